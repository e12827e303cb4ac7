/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "provision-rules.h"

#include <errno.h>

struct ProvisionRules {
        int placeholder;
};

int provision_rules_new(const ProvisionRulesParams *p, ProvisionRules **ret, GError **error) {
        *ret = g_new0(ProvisionRules, 1);
        return 0;
}

void provision_rules_free(ProvisionRules *r) {
        g_free(r);
}

void provision_rules_start(ProvisionRules *r) {
}

void provision_rules_set_config(ProvisionRules *r, const VdpaConfig *config) {
}

void provision_rules_parent_event(ProvisionRules *r, const char *action, const char *syspath) {
}

void provision_rules_device_event(ProvisionRules *r, InventoryEvent ev, const VdpaDevice *dev) {
}

void provision_rules_describe(ProvisionRules *r, const char *handle, const char **rule, const char **error) {
        *rule = "";
        *error = "";
}

unsigned provision_rules_count_operations(const ProvisionRules *r) {
        return 0;
}
