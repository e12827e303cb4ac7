/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libvdpa-sim-preload.so: hands generic-netlink sockets to the vdpa
 * simulator (tests/vdpa-sim.c) when it serves the current umockdev testbed.
 *
 * Loaded after umockdev's preload:
 *   LD_PRELOAD=libumockdev-preload.so.0:/path/libvdpa-sim-preload.so
 * (umockdev-wrapper prepends its own library to an existing LD_PRELOAD).
 * Only libc and libdl: it must load into uninstrumented programs such as
 * /usr/sbin/vdpa, also next to an ASan-built test, so it is built without
 * sanitizers.
 *
 * socket(AF_NETLINK, SOCK_RAW|SOCK_DGRAM [|CLOEXEC|NONBLOCK], NETLINK_GENERIC)
 * connects an AF_UNIX SOCK_SEQPACKET socket to $UMOCKDEV_DIR/vdpa-netlink.sock
 * and returns that; when the file is missing (or nobody listens), the real
 * kernel socket is returned instead.  On such fds the calls libmnl,
 * iproute2 and the daemon make are given netlink semantics:
 *  - bind: port id = pid for the process's first such socket (as the
 *    kernel's autobind), then -4096, -4097, ...; an explicit nl_pid is kept.
 *  - getsockname/getpeername: a 12-byte sockaddr_nl.
 *  - setsockopt/getsockopt SOL_NETLINK: CAP_ACK, EXT_ACK, GET_STRICT_CHK are
 *    recorded and told to the simulator (vdpa-sim-proto.h); the other
 *    SOL_NETLINK options are accepted and read back; other levels go to the
 *    unix socket (SO_RCVBUF...), except SO_DOMAIN/SO_PROTOCOL/SO_TYPE.
 *  - sendto/sendmsg/send/write: autobind first; the destination, if any,
 *    must be the kernel (nl_pid 0, else ECONNREFUSED as for a missing port).
 *  - recvmsg/recvfrom: msg_name becomes {AF_NETLINK, pid 0}, namelen 12.
 *    MSG_TRUNC/MSG_PEEK behave as on netlink because a SEQPACKET unix
 *    socket already behaves so (unix_dgram_recvmsg).  recv() and read()
 *    need no translation and are therefore not wrapped (which also spares
 *    every read() of the process a table look-up).
 *  - close/dup/dup2/dup3: the table follows (forget before closing, so a
 *    concurrent socket() reusing the number is not forgotten).
 * poll/epoll work natively on the unix fd.  fcntl(F_DUPFD) is not followed.
 *
 * Why umockdev's preload is patched.  umockdev wraps socket, bind, connect,
 * close, write, send, recv(msg)... and calls the real ones through
 * dlsym(dlopen("libc.so.6"), name), not through RTLD_NEXT.  Loaded after
 * it, our definitions of those names would never be reached.  So when
 * umockdev's preload comes first in the search order, the constructor
 * points its GOT slot for dlsym at umockdev_dlsym(), which resolves names
 * in this library first (then libc, its dependency): umockdev's wrappers
 * then call ours, and ours call libc (RTLD_NEXT from here).  Loaded before
 * umockdev, nothing is patched: ordinary interposition does it, and our
 * RTLD_NEXT is umockdev's wrapper.
 */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/netlink.h>

#include "vdpa-sim-proto.h"

#define EXPORT __attribute__((visibility("default")))
#define MAX_FDS 65536
#define SOCK_NAME "vdpa-netlink.sock"

struct entry {
        uint32_t port_id;
        bool bound;
        bool announced; /* the simulator has the current state */
        int type;       /* SOCK_RAW or SOCK_DGRAM, as asked */
        uint32_t ctl_flags;
        int nl_opts[16]; /* SOL_NETLINK option values, by option number */
};

/* tracked[] is read without the lock (the fast path of write() and close()
 * for every other fd); entries[] only with it. */
static _Atomic unsigned char tracked[MAX_FDS];
static struct entry entries[MAX_FDS];
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static int32_t rover = -4096;

#define REAL(name) real_##name
#define DECLARE_REAL(ret, name, ...)                                            \
        static ret (*real_##name)(__VA_ARGS__);                                 \
        static void load_##name(void) {                                         \
                if (!real_##name)                                               \
                        real_##name = (ret (*)(__VA_ARGS__)) dlsym(RTLD_NEXT, #name); \
        }

DECLARE_REAL(int, socket, int, int, int)
DECLARE_REAL(int, connect, int, const struct sockaddr *, socklen_t)
DECLARE_REAL(int, bind, int, const struct sockaddr *, socklen_t)
DECLARE_REAL(int, getsockname, int, struct sockaddr *, socklen_t *)
DECLARE_REAL(int, getpeername, int, struct sockaddr *, socklen_t *)
DECLARE_REAL(int, setsockopt, int, int, int, const void *, socklen_t)
DECLARE_REAL(int, getsockopt, int, int, int, void *, socklen_t *)
DECLARE_REAL(ssize_t, sendto, int, const void *, size_t, int, const struct sockaddr *, socklen_t)
DECLARE_REAL(ssize_t, sendmsg, int, const struct msghdr *, int)
DECLARE_REAL(ssize_t, send, int, const void *, size_t, int)
DECLARE_REAL(ssize_t, write, int, const void *, size_t)
DECLARE_REAL(ssize_t, recvmsg, int, struct msghdr *, int)
DECLARE_REAL(ssize_t, recvfrom, int, void *, size_t, int, struct sockaddr *, socklen_t *)
DECLARE_REAL(int, close, int)
DECLARE_REAL(int, dup, int)
DECLARE_REAL(int, dup2, int, int)
DECLARE_REAL(int, dup3, int, int, int)

static bool is_tracked(int fd) {
        return fd >= 0 && fd < MAX_FDS && atomic_load_explicit(&tracked[fd], memory_order_acquire);
}

static void track(int fd, const struct entry *e) {
        pthread_mutex_lock(&table_lock);
        entries[fd] = *e;
        atomic_store_explicit(&tracked[fd], 1, memory_order_release);
        pthread_mutex_unlock(&table_lock);
}

static void forget(int fd) {
        if (!is_tracked(fd))
                return;
        pthread_mutex_lock(&table_lock);
        atomic_store_explicit(&tracked[fd], 0, memory_order_release);
        memset(&entries[fd], 0, sizeof(entries[fd]));
        pthread_mutex_unlock(&table_lock);
}

/* Connects a SEQPACKET socket to the simulator; -1 when it does not serve
 * this testbed (no file, nobody listening), with errno of the attempt. */
static int connect_sim(int type) {
        const char *dir = getenv("UMOCKDEV_DIR");
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        int fd, saved;

        if (!dir || !*dir)
                return -1;
        if ((size_t) snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", dir, SOCK_NAME) >=
            sizeof(sun.sun_path))
                return -1;
        load_socket();
        load_connect();
        fd = REAL(socket)(AF_UNIX, SOCK_SEQPACKET | (type & (SOCK_CLOEXEC | SOCK_NONBLOCK)), 0);
        if (fd < 0)
                return -1;
        if (fd >= MAX_FDS) {
                load_close();
                REAL(close)(fd);
                errno = EMFILE;
                return -1;
        }
        /* A non-blocking connect to a listening unix socket completes at
         * once unless its backlog is full (EAGAIN): then the simulator is
         * overloaded, and falling back to the kernel would be wrong. */
        if (REAL(connect)(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
                saved = errno;
                load_close();
                REAL(close)(fd);
                errno = saved;
                return -1;
        }
        return fd;
}

EXPORT int socket(int domain, int type, int protocol) {
        int base = type & ~(SOCK_CLOEXEC | SOCK_NONBLOCK);
        struct entry e = { 0 };
        int fd, saved = errno;

        load_socket();
        if (domain != AF_NETLINK || protocol != NETLINK_GENERIC || (base != SOCK_RAW && base != SOCK_DGRAM))
                return REAL(socket)(domain, type, protocol);

        fd = connect_sim(type);
        if (fd < 0) {
                if (errno == EAGAIN)
                        return -1;
                errno = saved;
                return REAL(socket)(domain, type, protocol);
        }
        e.type = base;
        track(fd, &e);
        return fd;
}

/* Sends the control record; called with table_lock held. */
static int announce_locked(int fd) {
        struct entry *e = &entries[fd];
        struct vdpa_sim_ctl ctl = {
                .zero = 0,
                .magic = VDPA_SIM_CTL_MAGIC,
                .version = VDPA_SIM_CTL_VERSION,
                .port_id = e->port_id,
                .flags = e->ctl_flags,
        };

        load_send();
        if (REAL(send)(fd, &ctl, sizeof(ctl), MSG_NOSIGNAL) != (ssize_t) sizeof(ctl))
                return -1;
        e->announced = true;
        return 0;
}

static bool port_in_use_locked(uint32_t port) {
        for (int fd = 0; fd < MAX_FDS; fd++)
                if (atomic_load_explicit(&tracked[fd], memory_order_relaxed) && entries[fd].bound &&
                    entries[fd].port_id == port)
                        return true;
        return false;
}

/* The kernel's netlink_autobind(): the process id first, then a global
 * rover of negative ids. */
static uint32_t pick_port_locked(void) {
        uint32_t pid = (uint32_t) getpid();

        if (!port_in_use_locked(pid))
                return pid;
        for (;;) {
                uint32_t p = (uint32_t) rover--;
                if (rover > -4096)
                        rover = -4097;
                if (!port_in_use_locked(p))
                        return p;
        }
}

/* Binds (to PORT, 0 = automatic) and tells the simulator; returns
 * -errno. */
static int do_bind(int fd, uint32_t port) {
        struct entry *e;
        int r = 0;

        pthread_mutex_lock(&table_lock);
        e = &entries[fd];
        if (e->bound) {
                if (port && port != e->port_id)
                        r = -EINVAL;
        } else {
                if (port && port_in_use_locked(port)) {
                        r = -EADDRINUSE;
                } else {
                        e->port_id = port ? port : pick_port_locked();
                        e->bound = true;
                        e->announced = false;
                }
        }
        if (r == 0 && !e->announced && announce_locked(fd) < 0)
                r = -errno;
        pthread_mutex_unlock(&table_lock);
        return r;
}

static int fail(int r) {
        errno = -r;
        return -1;
}

static int check_nl_addr(const struct sockaddr *addr, socklen_t len) {
        if (!addr || len < sizeof(struct sockaddr_nl))
                return -EINVAL;
        if (addr->sa_family != AF_NETLINK)
                return -EINVAL;
        return 0;
}

EXPORT int bind(int fd, const struct sockaddr *addr, socklen_t len) {
        int r;

        if (!is_tracked(fd)) {
                load_bind();
                return REAL(bind)(fd, addr, len);
        }
        r = check_nl_addr(addr, len);
        if (r < 0)
                return fail(r);
        r = do_bind(fd, ((const struct sockaddr_nl *) addr)->nl_pid);
        return r < 0 ? fail(r) : 0;
}

EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len) {
        int r;

        if (!is_tracked(fd)) {
                load_connect();
                return REAL(connect)(fd, addr, len);
        }
        /* netlink_connect(): AF_UNSPEC disconnects, else a peer port. */
        if (addr && len >= sizeof(addr->sa_family) && addr->sa_family == AF_UNSPEC)
                return 0;
        r = check_nl_addr(addr, len);
        if (r == 0 && ((const struct sockaddr_nl *) addr)->nl_pid != 0)
                r = -ECONNREFUSED;
        if (r == 0)
                r = do_bind(fd, 0);
        return r < 0 ? fail(r) : 0;
}

static void fill_nl_addr(struct sockaddr *addr, socklen_t *len, uint32_t port) {
        struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_pid = port };

        if (addr && len)
                memcpy(addr, &nl, *len < sizeof(nl) ? *len : sizeof(nl));
        if (len)
                *len = sizeof(nl);
}

EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len) {
        uint32_t port;

        if (!is_tracked(fd)) {
                load_getsockname();
                return REAL(getsockname)(fd, addr, len);
        }
        if (!len)
                return fail(-EFAULT);
        pthread_mutex_lock(&table_lock);
        port = entries[fd].bound ? entries[fd].port_id : 0;
        pthread_mutex_unlock(&table_lock);
        fill_nl_addr(addr, len, port);
        return 0;
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len) {
        if (!is_tracked(fd)) {
                load_getpeername();
                return REAL(getpeername)(fd, addr, len);
        }
        if (!len)
                return fail(-EFAULT);
        fill_nl_addr(addr, len, 0);
        return 0;
}

static uint32_t ctl_bit(int opt) {
        switch (opt) {
        case NETLINK_CAP_ACK:
                return VDPA_SIM_CTL_CAP_ACK;
        case NETLINK_EXT_ACK:
                return VDPA_SIM_CTL_EXT_ACK;
        case NETLINK_GET_STRICT_CHK:
                return VDPA_SIM_CTL_STRICT_CHK;
        default:
                return 0;
        }
}

/* The SOL_NETLINK options of af_netlink.c's netlink_setsockopt(). */
static bool known_nl_opt(int opt) {
        return opt >= NETLINK_ADD_MEMBERSHIP && opt <= NETLINK_GET_STRICT_CHK && opt != 2 /* unused */;
}

static int nl_setsockopt(int fd, int opt, const void *val, socklen_t len) {
        struct entry *e;
        uint32_t bit = ctl_bit(opt);
        int v, r = 0;

        if (!known_nl_opt(opt))
                return -ENOPROTOOPT;
        if (len < sizeof(int) || !val)
                return -EINVAL;
        memcpy(&v, val, sizeof(v));
        pthread_mutex_lock(&table_lock);
        e = &entries[fd];
        /* Membership options take a group number; vdpa has no groups,
         * nothing to remember beyond the value. */
        e->nl_opts[opt] = v;
        if (bit) {
                uint32_t old = e->ctl_flags;
                e->ctl_flags = v ? (old | bit) : (old & ~bit);
                if (e->ctl_flags != old && e->bound && announce_locked(fd) < 0)
                        r = -errno;
                else if (e->ctl_flags != old)
                        e->announced = false;
        }
        pthread_mutex_unlock(&table_lock);
        return r;
}

EXPORT int setsockopt(int fd, int level, int opt, const void *val, socklen_t len) {
        int r;

        load_setsockopt();
        if (!is_tracked(fd) || level != SOL_NETLINK)
                return REAL(setsockopt)(fd, level, opt, val, len);
        r = nl_setsockopt(fd, opt, val, len);
        return r < 0 ? fail(r) : 0;
}

static int put_int(void *val, socklen_t *len, int v) {
        if (!val || !len || *len < sizeof(int))
                return -EINVAL;
        memcpy(val, &v, sizeof(v));
        *len = sizeof(int);
        return 0;
}

EXPORT int getsockopt(int fd, int level, int opt, void *val, socklen_t *len) {
        int v = 0, r;

        load_getsockopt();
        if (!is_tracked(fd))
                return REAL(getsockopt)(fd, level, opt, val, len);
        if (level == SOL_SOCKET && (opt == SO_DOMAIN || opt == SO_PROTOCOL || opt == SO_TYPE)) {
                pthread_mutex_lock(&table_lock);
                v = opt == SO_DOMAIN ? AF_NETLINK : opt == SO_PROTOCOL ? NETLINK_GENERIC : entries[fd].type;
                pthread_mutex_unlock(&table_lock);
                r = put_int(val, len, v);
                return r < 0 ? fail(r) : 0;
        }
        if (level != SOL_NETLINK)
                return REAL(getsockopt)(fd, level, opt, val, len);
        if (!known_nl_opt(opt))
                return fail(-ENOPROTOOPT);
        pthread_mutex_lock(&table_lock);
        v = entries[fd].nl_opts[opt] ? 1 : 0;
        pthread_mutex_unlock(&table_lock);
        r = put_int(val, len, v);
        return r < 0 ? fail(r) : 0;
}

/* Before any datagram: the kernel autobinds in netlink_sendmsg(), and the
 * simulator must know the port id and options first. */
static int prepare_send(int fd, const struct sockaddr *dest, socklen_t destlen) {
        int r = 0;

        if (dest) {
                r = check_nl_addr(dest, destlen);
                if (r == 0 && ((const struct sockaddr_nl *) dest)->nl_pid != 0)
                        r = -ECONNREFUSED;
                if (r < 0)
                        return r;
        }
        /* Binds when unbound, announces pending option changes. */
        return do_bind(fd, 0);
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *dest,
                      socklen_t destlen) {
        int r;

        load_sendto();
        if (!is_tracked(fd))
                return REAL(sendto)(fd, buf, len, flags, dest, destlen);
        r = prepare_send(fd, dest, destlen);
        if (r < 0)
                return fail(r);
        return REAL(sendto)(fd, buf, len, flags | MSG_NOSIGNAL, NULL, 0);
}

EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags) {
        int r;

        load_send();
        if (!is_tracked(fd))
                return REAL(send)(fd, buf, len, flags);
        r = prepare_send(fd, NULL, 0);
        if (r < 0)
                return fail(r);
        return REAL(send)(fd, buf, len, flags | MSG_NOSIGNAL);
}

EXPORT ssize_t write(int fd, const void *buf, size_t len) {
        int r;

        load_write();
        if (!is_tracked(fd))
                return REAL(write)(fd, buf, len);
        r = prepare_send(fd, NULL, 0);
        if (r < 0)
                return fail(r);
        load_send();
        return REAL(send)(fd, buf, len, MSG_NOSIGNAL);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        struct msghdr m;
        int r;

        load_sendmsg();
        if (!is_tracked(fd) || !msg)
                return REAL(sendmsg)(fd, msg, flags);
        r = prepare_send(fd, msg->msg_name, msg->msg_namelen);
        if (r < 0)
                return fail(r);
        /* The unix socket is connected: no address; netlink's control
         * messages (SCM_CREDENTIALS) mean nothing to the simulator. */
        m = *msg;
        m.msg_name = NULL;
        m.msg_namelen = 0;
        m.msg_control = NULL;
        m.msg_controllen = 0;
        return REAL(sendmsg)(fd, &m, flags | MSG_NOSIGNAL);
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
        void *name;
        socklen_t namelen;
        ssize_t n;

        load_recvmsg();
        if (!is_tracked(fd) || !msg)
                return REAL(recvmsg)(fd, msg, flags);
        name = msg->msg_name;
        namelen = msg->msg_namelen;
        msg->msg_name = NULL;
        msg->msg_namelen = 0;
        n = REAL(recvmsg)(fd, msg, flags);
        msg->msg_name = name;
        msg->msg_namelen = namelen;
        if (n >= 0)
                fill_nl_addr(name, name ? &msg->msg_namelen : NULL, 0);
        if (n >= 0 && !name)
                msg->msg_namelen = 0;
        return n;
}

static ssize_t nl_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
                           socklen_t *srclen) {
        struct iovec iov = { .iov_base = buf, .iov_len = len };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        load_recvmsg();
        n = REAL(recvmsg)(fd, &m, flags);
        if (n >= 0 && src && srclen)
                fill_nl_addr(src, srclen, 0);
        return n;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *src,
                        socklen_t *srclen) {
        load_recvfrom();
        if (!is_tracked(fd))
                return REAL(recvfrom)(fd, buf, len, flags, src, srclen);
        return nl_recvfrom(fd, buf, len, flags, src, srclen);
}

/* _FORTIFY_SOURCE turns recvfrom() into this, which glibc implements
 * without calling recvfrom(). */
EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                              struct sockaddr *src, socklen_t *srclen);
EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                              struct sockaddr *src, socklen_t *srclen) {
        static ssize_t (*real_chk)(int, void *, size_t, size_t, int, struct sockaddr *, socklen_t *);

        if (!is_tracked(fd)) {
                if (!real_chk)
                        real_chk = (ssize_t (*)(int, void *, size_t, size_t, int, struct sockaddr *,
                                                socklen_t *)) dlsym(RTLD_NEXT, "__recvfrom_chk");
                return real_chk(fd, buf, len, buflen, flags, src, srclen);
        }
        if (len > buflen)
                abort(); /* what glibc's __chk_fail() amounts to */
        return nl_recvfrom(fd, buf, len, flags, src, srclen);
}

EXPORT int close(int fd) {
        load_close();
        forget(fd);
        return REAL(close)(fd);
}

static void copy_entry(int from, int to) {
        struct entry e;

        if (to < 0 || to >= MAX_FDS || !is_tracked(from))
                return;
        pthread_mutex_lock(&table_lock);
        e = entries[from];
        pthread_mutex_unlock(&table_lock);
        track(to, &e);
}

EXPORT int dup(int fd) {
        int r;

        load_dup();
        r = REAL(dup)(fd);
        if (r >= 0)
                copy_entry(fd, r);
        return r;
}

EXPORT int dup2(int fd, int to) {
        int r;

        load_dup2();
        if (fd != to)
                forget(to);
        r = REAL(dup2)(fd, to);
        if (r >= 0 && fd != to)
                copy_entry(fd, r);
        return r;
}

EXPORT int dup3(int fd, int to, int flags) {
        int r;

        load_dup3();
        if (fd != to)
                forget(to);
        r = REAL(dup3)(fd, to, flags);
        if (r >= 0)
                copy_entry(fd, r);
        return r;
}

/* ---- making umockdev's wrappers call ours (see the top comment) ---- */

static void *self_handle;

static void *umockdev_dlsym(void *handle, const char *name) {
        /* Our definition if we have one, else libc's (our dependency):
         * what umockdev asked its libc handle for. */
        void *p = self_handle ? dlsym(self_handle, name) : NULL;

        return p ? p : dlsym(handle, name);
}

struct order {
        uintptr_t self_base;
        int self_idx, umockdev_idx, idx;
        const struct dl_phdr_info *umockdev; /* valid inside the callback only */
        int patched;
};

static uintptr_t dyn_ptr(uintptr_t base, ElfW(Addr) v) {
        /* glibc relocates most d_ptr values in place; be safe either way */
        return v < base ? base + v : v;
}

static void patch_slot(uintptr_t slot) {
        long page = sysconf(_SC_PAGESIZE);
        uintptr_t start = slot & ~((uintptr_t) page - 1);
        void *hook = (void *) umockdev_dlsym;

        /* the GOT is in RELRO (umockdev is linked with -z now) */
        if (mprotect((void *) start, (size_t) page, PROT_READ | PROT_WRITE) < 0)
                return;
        memcpy((void *) slot, &hook, sizeof(hook));
        mprotect((void *) start, (size_t) page, PROT_READ);
}

/* Finds the JUMP_SLOT relocation of "dlsym" in the object and patches it. */
static int patch_dlsym_slot(const struct dl_phdr_info *info) {
        uintptr_t base = info->dlpi_addr;
        const ElfW(Dyn) *dyn = NULL;
        const ElfW(Rela) *rela = NULL;
        const ElfW(Sym) *syms = NULL;
        const char *strtab = NULL;
        size_t relsz = 0;
        int n = 0;

        for (int i = 0; i < info->dlpi_phnum; i++)
                if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
                        dyn = (const ElfW(Dyn) *) (base + info->dlpi_phdr[i].p_vaddr);
        for (; dyn && dyn->d_tag != DT_NULL; dyn++) {
                if (dyn->d_tag == DT_JMPREL)
                        rela = (const ElfW(Rela) *) dyn_ptr(base, dyn->d_un.d_ptr);
                else if (dyn->d_tag == DT_PLTRELSZ)
                        relsz = dyn->d_un.d_val;
                else if (dyn->d_tag == DT_SYMTAB)
                        syms = (const ElfW(Sym) *) dyn_ptr(base, dyn->d_un.d_ptr);
                else if (dyn->d_tag == DT_STRTAB)
                        strtab = (const char *) dyn_ptr(base, dyn->d_un.d_ptr);
        }
        if (!rela || !syms || !strtab)
                return 0;
        for (size_t i = 0; i < relsz / sizeof(*rela); i++) {
                const ElfW(Sym) *sym = &syms[ELF64_R_SYM(rela[i].r_info)];

                if (strcmp(strtab + sym->st_name, "dlsym") == 0) {
                        patch_slot(base + rela[i].r_offset);
                        n++;
                }
        }
        return n;
}

static int order_cb(struct dl_phdr_info *info, size_t size, void *data) {
        struct order *o = data;
        const char *name = info->dlpi_name ? info->dlpi_name : "";

        if (info->dlpi_addr == o->self_base)
                o->self_idx = o->idx;
        else if (strstr(name, "libumockdev-preload") && o->umockdev_idx < 0)
                o->umockdev_idx = o->idx;
        /* the search order is the load order: patch only when umockdev
         * was loaded before us */
        if (o->umockdev_idx >= 0 && o->self_idx < 0 && o->umockdev_idx == o->idx)
                o->patched = patch_dlsym_slot(info);
        o->idx++;
        return 0;
}

__attribute__((constructor)) static void hook_umockdev(void) {
        struct order o = { .self_idx = -1, .umockdev_idx = -1 };
        Dl_info self;

        if (!dladdr((void *) hook_umockdev, &self) || !self.dli_fname)
                return;
        o.self_base = (uintptr_t) self.dli_fbase;
        self_handle = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD);
        dl_iterate_phdr(order_cb, &o);
}
