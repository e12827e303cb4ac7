/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a user without the service would do (govdpa's sysfs path): list
 * /sys/bus/vdpa/devices, and for each device read its driver link, list
 * its directory for the vhost-vdpa-N child, stat /dev/vhost-vdpa-N, and
 * read vendor, device and numa_node of its parent.  Plain libc, no caching:
 * a fresh scan every time, as a CLI or a device plugin would run it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

void bench_scan_device_free(BenchScanDevice *d)
{
        if (!d)
                return;
        free(d->name);
        free(d->driver);
        free(d->chardev);
        free(d);
}

/* A path that does not fit is a device we cannot read, not a crash. */
static bool join(char *buf, size_t size, const char *a, const char *b)
{
        int n = snprintf(buf, size, "%s/%s", a, b);

        return n > 0 && (size_t) n < size;
}

static bool read_small(const char *path, char *buf, size_t size)
{
        ssize_t n;
        int fd;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        n = read(fd, buf, size - 1);
        close(fd);
        if (n <= 0)
                return false;
        buf[n] = '\0';
        return true;
}

static long read_number(const char *dir, const char *attr, int base, long fallback)
{
        char path[PATH_MAX], buf[64];

        if (!join(path, sizeof path, dir, attr) || !read_small(path, buf, sizeof buf))
                return fallback;
        return strtol(buf, NULL, base);
}

static char *find_vhost(const char *root, const char *devdir)
{
        char node[PATH_MAX], devroot[PATH_MAX];
        struct dirent *de;
        char *found = NULL;
        struct stat st;
        DIR *d;

        if (!join(devroot, sizeof devroot, root, "dev"))
                return NULL;
        d = opendir(devdir);
        if (!d)
                return NULL;
        while ((de = readdir(d)))
                if (strncmp(de->d_name, "vhost-vdpa-", 11) == 0) {
                        if (join(node, sizeof node, devroot, de->d_name) &&
                            stat(node, &st) == 0)
                                found = strdup(node + strlen(root));
                        break;
                }
        closedir(d);
        return found;
}

/* One device NAME of BUSDIR, as govdpa reads it. */
static BenchScanDevice *read_device(const char *root, const char *busdir, const char *name)
{
        char devdir[PATH_MAX], link[PATH_MAX], target[PATH_MAX], parent[PATH_MAX];
        BenchScanDevice *dev;
        ssize_t n;
        char *slash;

        if (!join(devdir, sizeof devdir, busdir, name))
                return NULL;
        dev = calloc(1, sizeof *dev);
        dev->name = strdup(name);
        dev->numa_node = -1;

        n = join(link, sizeof link, devdir, "driver") ? readlink(link, target, sizeof target - 1) : -1;
        if (n > 0) {
                target[n] = '\0';
                slash = strrchr(target, '/');
                dev->driver = strdup(slash ? slash + 1 : target);
        }

        dev->chardev = find_vhost(root, devdir);

        /* The bus entry links to /sys/devices/.../PARENT/NAME. */
        n = readlink(devdir, target, sizeof target - 1);
        if (n > 0) {
                target[n] = '\0';
                slash = strrchr(target, '/');
                if (slash) {
                        *slash = '\0';
                        if (!join(parent, sizeof parent, busdir, target))
                                parent[0] = '\0';
                        dev->vendor = (guint16) read_number(parent, "vendor", 16, 0);
                        dev->device = (guint16) read_number(parent, "device", 16, 0);
                        dev->numa_node = (int) read_number(parent, "numa_node", 10, -1);
                }
        }
        return dev;
}

BenchScanDevice *bench_sysfs_read_device(const char *root, const char *name)
{
        char busdir[PATH_MAX];

        if (!join(busdir, sizeof busdir, root, "sys/bus/vdpa/devices"))
                return NULL;
        return read_device(root, busdir, name);
}

guint bench_sysfs_scan(const char *root, GPtrArray *devices)
{
        char busdir[PATH_MAX];
        struct dirent *de;
        guint usable = 0;
        DIR *d;

        if (!join(busdir, sizeof busdir, root, "sys/bus/vdpa/devices"))
                return 0;
        d = opendir(busdir);
        if (!d)
                return 0;
        while ((de = readdir(d))) {
                BenchScanDevice *dev;

                if (de->d_name[0] == '.' || !(dev = read_device(root, busdir, de->d_name)))
                        continue;
                if (dev->chardev)
                        usable++;
                if (devices)
                        g_ptr_array_add(devices, dev);
                else
                        bench_scan_device_free(dev);
        }
        closedir(d);
        return usable;
}
