/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Without libFuzzer: replay every file of the given corpus directories (or
 * single files) through the fuzz target, so that every build exercises the
 * seed corpus and any crash reproducer added to it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static void replay_file(const char *path, unsigned *count) {
        g_autoptr(GError) error = NULL;
        g_autofree char *data = NULL;
        gsize len;

        if (!g_file_get_contents(path, &data, &len, &error)) {
                fprintf(stderr, "%s: %s\n", path, error->message);
                exit(EXIT_FAILURE);
        }
        LLVMFuzzerTestOneInput((const uint8_t *) data, len);
        (*count)++;
}

int main(int argc, char *argv[]) {
        unsigned count = 0;

        LLVMFuzzerInitialize(&argc, &argv);

        for (int i = 1; i < argc; i++) {
                g_autoptr(GError) error = NULL;
                g_autoptr(GDir) dir = NULL;
                const char *name;

                if (!g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
                        replay_file(argv[i], &count);
                        continue;
                }

                dir = g_dir_open(argv[i], 0, &error);
                if (!dir) {
                        fprintf(stderr, "%s: %s\n", argv[i], error->message);
                        return EXIT_FAILURE;
                }
                while ((name = g_dir_read_name(dir))) {
                        g_autofree char *path = g_build_filename(argv[i], name, NULL);

                        replay_file(path, &count);
                }
        }

        printf("replayed %u inputs\n", count);
        /* An empty corpus would make this test pass while testing nothing. */
        return count > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
