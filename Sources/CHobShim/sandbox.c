// The privileges of a sprite's processes: a seccomp filter and a capability set, applied by
// hob-init in the child between fork and exec (see include/hob_shim.h, hob_sandbox_*).
//
// The filter is a deny-list over what a user namespace exposes of the kernel beyond a developer's
// needs. Everything it refuses answers an errno (never a kill), so programs see an ordinary
// "not permitted" and fall back: glibc retries clone3 as clone on ENOSYS, libuv and friends run
// without io_uring, ping uses ICMP datagram sockets instead of raw ones.
//
// The program is assembled once per policy into a caller-owned buffer; each block starts by
// loading the syscall number again, because argument checks overwrite the accumulator.
#include "hob_shim.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <netinet/in.h>

#if defined(__x86_64__)
#define HOB_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define HOB_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "hob: the seccomp filter needs this architecture's AUDIT_ARCH"
#endif

#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif
#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif

// The low 32 bits of syscall argument `i` (what every argument checked here is: flags, a family,
// an ioctl request, a mode).
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG_LOW(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t))
#else
#define ARG_LOW(i) (offsetof(struct seccomp_data, args) + (i) * sizeof(uint64_t) + sizeof(uint32_t))
#endif

typedef struct {
    struct sock_filter *code;
    int count;
    int capacity;
    int overflow;
} program;

static void emit(program *p, struct sock_filter insn) {
    if (p->count >= p->capacity) { p->overflow = 1; return; }
    p->code[p->count++] = insn;
}

#define STMT(code, k) ((struct sock_filter)BPF_STMT((code), (k)))
#define JUMP(code, k, jt, jf) ((struct sock_filter)BPF_JUMP((code), (k), (jt), (jf)))
#define LOAD_NR STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr))
#define RET_ERRNO(e) STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((e) & SECCOMP_RET_DATA))

// nr → errno.
static void deny(program *p, long nr, int err) {
    emit(p, LOAD_NR);
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 1));
    emit(p, RET_ERRNO(err));
}

// nr with (arg & mask) != 0 → errno.
static void deny_any_bit(program *p, long nr, int arg, uint32_t mask, int err) {
    emit(p, LOAD_NR);
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 3));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(arg)));
    emit(p, JUMP(BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1));
    emit(p, RET_ERRNO(err));
}

// nr with (arg & mask) == value → errno.
static void deny_masked(program *p, long nr, int arg, uint32_t mask, uint32_t value, int err) {
    emit(p, LOAD_NR);
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 4));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(arg)));
    emit(p, STMT(BPF_ALU | BPF_AND | BPF_K, mask));
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, value, 0, 1));
    emit(p, RET_ERRNO(err));
}

// nr with argument `a` == va and (argument `b` & maskb) == vb → errno.
static void deny_pair(program *p, long nr, int a, uint32_t va, int b, uint32_t maskb, uint32_t vb, int err) {
    emit(p, LOAD_NR);
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)nr, 0, 6));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(a)));
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, va, 0, 4));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(b)));
    emit(p, STMT(BPF_ALU | BPF_AND | BPF_K, maskb));
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, vb, 0, 1));
    emit(p, RET_ERRNO(err));
}

// socket(family, SOCK_RAW, protocol) for any protocol but `allowed` → EPERM.
static void deny_raw_except(program *p, uint32_t family, uint32_t allowed) {
    emit(p, LOAD_NR);
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)SYS_socket, 0, 8));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(0)));
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, family, 0, 6));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(1)));
    emit(p, STMT(BPF_ALU | BPF_AND | BPF_K, 0xf));
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOCK_RAW, 0, 3));
    emit(p, STMT(BPF_LD | BPF_W | BPF_ABS, ARG_LOW(2)));
    emit(p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, allowed, 1, 0));
    emit(p, RET_ERRNO(EPERM));
}

int hob_sandbox_filter_build(int flags, hob_filter_insn *out, int capacity) {
    program p = { (struct sock_filter *)out, 0, capacity, 0 };
    const int nested = flags & HOB_SANDBOX_NESTED;

    // Another architecture's syscall table (i386 through int 0x80) would bypass every number
    // below: refuse it whole. The x32 ABI shares the arch value and is told apart by bit 30.
    emit(&p, STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    emit(&p, JUMP(BPF_JMP | BPF_JEQ | BPF_K, HOB_AUDIT_ARCH, 1, 0));
    emit(&p, RET_ERRNO(ENOSYS));
#if defined(__x86_64__)
    emit(&p, LOAD_NR);
    emit(&p, JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000, 0, 1));
    emit(&p, RET_ERRNO(ENOSYS));
#endif

    // Closed in every profile: host-wide or notoriously sharp surfaces no developer tool needs.
    deny(&p, SYS_bpf, EPERM);
    deny(&p, SYS_perf_event_open, EPERM);
    deny(&p, SYS_userfaultfd, EPERM);
    deny(&p, SYS_open_by_handle_at, EPERM);
    deny(&p, SYS_init_module, EPERM);
    deny(&p, SYS_finit_module, EPERM);
    deny(&p, SYS_delete_module, EPERM);
    deny(&p, SYS_kexec_load, EPERM);
    deny(&p, SYS_kexec_file_load, EPERM);
    deny(&p, SYS_io_uring_setup, ENOSYS);
    deny(&p, SYS_io_uring_enter, ENOSYS);
    deny(&p, SYS_io_uring_register, ENOSYS);
    deny(&p, SYS_acct, EPERM);
    // The host's kernel log (readable without privileges where dmesg_restrict is 0) and quotas
    // (a sprite's disk quota is Hob's to set).
    deny(&p, SYS_syslog, EPERM);
    deny(&p, SYS_quotactl, EPERM);
#ifdef SYS_quotactl_fd
    deny(&p, SYS_quotactl_fd, EPERM);
#endif
    deny(&p, SYS_swapon, EPERM);
    deny(&p, SYS_swapoff, EPERM);
#ifdef SYS_lookup_dcookie
    deny(&p, SYS_lookup_dcookie, EPERM);
#endif
    // AF_VSOCK is not namespaced: it would reach the host's and other guests' vsock services.
    deny_masked(&p, SYS_socket, 0, 0xffffffff, AF_VSOCK, EAFNOSUPPORT);
    deny_masked(&p, SYS_socketpair, 0, 0xffffffff, AF_VSOCK, EAFNOSUPPORT);
    // btrfs ioctls (type 0x94): subvolume flags (the read-only property of a checkpoint),
    // snapshots, balance, device management. The sprite's disk is Hob's to manage.
    deny_masked(&p, SYS_ioctl, 1, 0xff00, 0x9400, EPERM);
    // Pushing bytes into a terminal's input queue (TIOCSTI), console tricks (TIOCLINUX), and
    // line disciplines (TIOCSETD: n_gsm, slip and friends, a recurring source of kernel bugs).
    deny_masked(&p, SYS_ioctl, 1, 0xffffffff, 0x5412, EPERM);
    deny_masked(&p, SYS_ioctl, 1, 0xffffffff, 0x541C, EPERM);
    deny_masked(&p, SYS_ioctl, 1, 0xffffffff, 0x5423, EPERM);
    // Device nodes: a user namespace cannot make working ones anyway; say so before the kernel.
    deny_masked(&p, SYS_mknodat, 2, S_IFMT, S_IFCHR, EPERM);
    deny_masked(&p, SYS_mknodat, 2, S_IFMT, S_IFBLK, EPERM);
#ifdef SYS_mknod
    deny_masked(&p, SYS_mknod, 1, S_IFMT, S_IFCHR, EPERM);
    deny_masked(&p, SYS_mknod, 1, S_IFMT, S_IFBLK, EPERM);
#endif

    if (!nested) {
        // New user namespaces would hand back every capability, and with them nf_tables, mounts
        // and the rest of what the capability set keeps out. clone3 hides its flags in memory a
        // filter cannot read: ENOSYS makes glibc fall back to clone, whose flags it can.
        deny_any_bit(&p, SYS_unshare, 0, CLONE_NEWUSER, EPERM);
#if defined(__x86_64__) || defined(__aarch64__)
        deny_any_bit(&p, SYS_clone, 0, CLONE_NEWUSER, EPERM);
#endif
        deny(&p, SYS_clone3, ENOSYS);
        deny(&p, SYS_keyctl, EPERM);
        deny(&p, SYS_add_key, EPERM);
        deny(&p, SYS_request_key, EPERM);
        // Mount administration (the capability set already lacks CAP_SYS_ADMIN).
        deny(&p, SYS_mount, EPERM);
        deny(&p, SYS_umount2, EPERM);
        deny(&p, SYS_pivot_root, EPERM);
        deny(&p, SYS_mount_setattr, EPERM);
        deny(&p, SYS_move_mount, EPERM);
        deny(&p, SYS_open_tree, EPERM);
        deny(&p, SYS_fsopen, EPERM);
        deny(&p, SYS_fsconfig, EPERM);
        deny(&p, SYS_fsmount, EPERM);
        deny(&p, SYS_fspick, EPERM);
        // Packet sockets and raw IP sockets, but for ICMP: ping carries CAP_NET_RAW as a file
        // capability and then insists on a raw ICMP socket. (What a raw socket could forge is
        // dropped at the bridge: source addresses are pinned per port.)
        deny_masked(&p, SYS_socket, 0, 0xffffffff, AF_PACKET, EPERM);
        deny_masked(&p, SYS_socket, 1, 0xf, SOCK_PACKET, EPERM);
        deny_raw_except(&p, AF_INET, IPPROTO_ICMP);
        deny_raw_except(&p, AF_INET6, IPPROTO_ICMPV6);
        // nf_tables and the rest of netfilter's netlink administration.
        deny_pair(&p, SYS_socket, 0, AF_NETLINK, 2, 0xffffffff, NETLINK_NETFILTER, EPERM);
    }

    emit(&p, STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    if (p.overflow) { errno = ENOSPC; return -1; }
    return p.count;
}

_Static_assert(sizeof(hob_filter_insn) == sizeof(struct sock_filter), "hob_filter_insn mirrors struct sock_filter");

// Runs in the forked child before exec: async-signal-safe calls only.
int hob_sandbox_apply(const hob_sandbox *s) {
    if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return -1;
    // The filter goes on while the child still holds CAP_SYS_ADMIN in the sprite's user
    // namespace, which lets it install one without no_new_privs (so sudo keeps working).
    if (s->filter_len > 0) {
        struct sock_fprog prog = { (unsigned short)s->filter_len, (struct sock_filter *)s->filter };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) return -1;
    }
    // The bounding set caps what any later exec can gain, setuid binaries included.
    for (int cap = 0; cap < 64; cap++) {
        if (s->capabilities & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
    struct __user_cap_header_struct header = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0) return -1;
    for (int i = 0; i < 2; i++) {
        uint32_t keep = (uint32_t)(s->capabilities >> (32 * i));
        data[i].effective &= keep;
        data[i].permitted &= keep;
        data[i].inheritable &= keep;
    }
    if (syscall(SYS_capset, &header, data) < 0) return -1;
    return 0;
}
