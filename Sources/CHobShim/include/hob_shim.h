// CHobShim: the small C surface under HobOS and hob-init.
//
// Two kinds of code live here:
//  - the child side of clone/fork, because no Swift may run between fork and exec in a
//    multi-threaded process (the daemon) — a lock held by another thread would deadlock the child;
//  - GNU/Linux syscalls that Swift's Glibc module map hides (unshare, pivot_root, the new mount API,
//    pidfds, signalfd, epoll, SCM_RIGHTS, btrfs ioctls, interface ioctls, openat2, renameat2).
// Every function returns 0 (or a non-negative value) on success and -1 with errno set on failure,
// unless documented otherwise. Every symbol carries the `hob_` prefix.
#pragma once

#include <stdint.h>
#include <sys/types.h>

// Kernel ABI constants that Swift's Glibc module hides (they sit behind _GNU_SOURCE).
enum {
    HOB_CLONE_NEWNS = 0x00020000,
    HOB_CLONE_NEWCGROUP = 0x02000000,
    HOB_CLONE_NEWUTS = 0x04000000,
    HOB_CLONE_NEWIPC = 0x08000000,
    HOB_CLONE_NEWUSER = 0x10000000,
    HOB_CLONE_NEWPID = 0x20000000,
    HOB_CLONE_NEWNET = 0x40000000,
    HOB_O_PATH = 010000000,
    HOB_O_TMPFILE = 020200000,  // __O_TMPFILE | O_DIRECTORY
    HOB_AT_EMPTY_PATH = 0x1000,
    HOB_RENAME_NOREPLACE = 1,
    // openat2(2) `resolve` flags (linux/openat2.h).
    HOB_RESOLVE_NO_XDEV = 0x01,
    HOB_RESOLVE_NO_MAGICLINKS = 0x02,
    HOB_RESOLVE_NO_SYMLINKS = 0x04,
    HOB_RESOLVE_BENEATH = 0x08,
    HOB_RESOLVE_IN_ROOT = 0x10,
};

// MARK: - Sprite boot (daemon side)

// Options for cloning a sprite's PID 1. The child:
//   1. resets signals, moves `ctl_fd` to fd 3 and `listen_fd` to fd 4, points 0/1/2 at /dev/null,
//      closes every other descriptor;
//   2. waits for one byte on fd 3 (the parent writes it once uid/gid maps, cgroups and the network
//      are in place; EOF means the parent gave up, and the child exits);
//   3. becomes root of its user namespace (setgroups, setresgid, setresuid), calls setsid();
//   4. executes `init_fd` (hob-init) with `argv`/`envp` via execveat(AT_EMPTY_PATH).
// If step 4 fails the child writes "E<errno>\n" on fd 3 and exits 127.
typedef struct {
    int clone_flags;
    int init_fd;
    int ctl_fd;
    int listen_fd;
    char *const *argv;
    char *const *envp;
} hob_sprite_spawn;

// Clones the sprite init. On success stores its host pid and a pidfd (CLOEXEC).
int hob_spawn_sprite(const hob_sprite_spawn *opts, pid_t *pid_out, int *pidfd_out);

// A detached copy of the mount tree at `path`, idmapped through the user namespace `userns_fd`
// (open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_IDMAP)), nodev, with setuid and exec
// allowed whatever the pool's mount says (a sprite's root). Returns the mount fd.
int hob_open_idmapped_tree(const char *path, int userns_fd);

// A detached, read-only, nosuid, nodev bind of `path` (a file or directory), for attaching in
// another mount namespace with move_mount. With `allow_devices`, noexec instead of nodev (a
// directory of device nodes made for one sprite). Returns the mount fd.
int hob_open_readonly_tree(const char *path, int allow_devices);

// Like hob_open_idmapped_tree, and also read-only, nosuid and nodev, set in the same
// mount_setattr call (a checkpoint shown inside its sprite). Returns the mount fd.
int hob_open_idmapped_readonly_tree(const char *path, int userns_fd);

// MARK: - Privileges of a sprite's processes (sandbox.c; hob-init side)

enum {
    // The `privileged` profile: new user namespaces, mounts, keyrings, raw sockets and netfilter
    // administration stay open (nested containers need them).
    HOB_SANDBOX_NESTED = 1,
};

// Mirrors the kernel's struct sock_filter (one classic BPF instruction).
typedef struct {
    uint16_t code;
    uint8_t jt;
    uint8_t jf;
    uint32_t k;
} hob_filter_insn;

// Assembles the seccomp program for HOB_SANDBOX_* `flags` into `out`. Returns the number of
// instructions, or -1 with ENOSPC when `capacity` is too small (256 is plenty).
int hob_sandbox_filter_build(int flags, hob_filter_insn *out, int capacity);

typedef struct {
    const hob_filter_insn *filter;  // NULL or a program from hob_sandbox_filter_build
    int filter_len;
    uint64_t capabilities;          // bit n set: capability n stays (bounding, permitted, effective)
    int no_new_privs;               // PR_SET_NO_NEW_PRIVS: setuid and file capabilities stop working
} hob_sandbox;

// Applies `s` to the calling process (meant for a child between fork and exec): no_new_privs,
// then the filter, then the capability bounding set and the capability sets.
int hob_sandbox_apply(const hob_sandbox *s);

// MARK: - Processes (hob-init side; single-threaded caller)

typedef struct {
    char *const *argv;       // argv[0] is searched in `search_path` when it has no '/'
    char *const *envp;
    const char *search_path; // PATH used for the search, e.g. the session's PATH
    const char *dir;         // working directory, or NULL
    int stdin_fd;            // descriptors become 0/1/2 in the child
    int stdout_fd;
    int stderr_fd;
    int new_session;         // setsid() in the child
    int controlling_tty;     // make stdin_fd the controlling terminal (needs new_session)
    const hob_sandbox *sandbox; // applied last before exec, or NULL
} hob_process_spawn;

// Forks and executes. Returns the pid, or -1 with errno set to the child's failure, and
// `*stage_out` set to 1 for chdir, 2 for exec, 3 for terminal setup, 4 for the sandbox.
pid_t hob_spawn_process(const hob_process_spawn *opts, int *stage_out);

// MARK: - Syscalls Swift cannot reach

int hob_unshare(int flags);
int hob_pivot_root(const char *new_root, const char *put_old);
int hob_move_mount_fd(int from_fd, const char *to_path);
// 1 when `path` (not following a final symlink) is the root of a mount, 0 when not, -1 on error.
int hob_is_mount_root(const char *path);
// Removes a file or a directory tree, children first, never following symlinks nor entering
// other mounts (nftw FTW_DEPTH | FTW_PHYS | FTW_MOUNT). A missing path is not an error.
int hob_remove_tree(const char *path);
int hob_pidfd_open(pid_t pid);
int hob_pidfd_send_signal(int pidfd, int sig);
int hob_pipe2(int fds[2], int flags);
// accept4 with SOCK_NONBLOCK | SOCK_CLOEXEC.
int hob_accept(int listen_fd);

// signalfd for SIGCHLD, SIGTERM, SIGINT (blocked first). Returns the fd.
int hob_signalfd_init(void);
// Reads one pending signal number from the signalfd, 0 if none.
int hob_signalfd_read(int fd);

int hob_epoll_create(void);
int hob_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int hob_epoll_del(int epfd, int fd);
// Waits for one event; returns 1 with `*data_out` set, 0 on timeout, -1 on error.
int hob_epoll_wait_one(int epfd, int timeout_ms, uint64_t *data_out);

// sendmsg/recvmsg with SCM_RIGHTS.
ssize_t hob_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
ssize_t hob_recv_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *nfds_out);

// Terminal helpers.
int hob_set_winsize(int fd, unsigned short rows, unsigned short cols);

// MARK: - Files inside a sprite's disk (HobOS RootedDirectory)

// openat2(2), which glibc does not wrap: `resolve` is a set of HOB_RESOLVE_* flags. With
// HOB_RESOLVE_IN_ROOT the kernel resolves `path` as if `dirfd` were "/": "..", absolute paths and
// absolute symlinks all stay below it. Returns the descriptor.
int hob_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);
// renameat2(2) with HOB_RENAME_* flags.
int hob_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
// copy_file_range(2) from the current offsets of both descriptors (btrfs shares the extents).
ssize_t hob_copy_file_range(int in_fd, int out_fd, size_t len);

// MARK: - Network (inside the sprite's namespace)

// Brings an interface up; with `addr` set, also assigns addr/prefix (IPv4, dotted quad).
int hob_if_up(const char *ifname, const char *addr, int prefix);

/* A TCP socket (non-blocking, close-on-exec) in the network namespace `netns_fd` refers to (an
 * open /proc/<pid>/ns/net), so that a connection made with it starts inside a sprite: "localhost"
 * is the sprite's own loopback. setns changes the calling thread's namespace and every daemon
 * thread must stay in the host's, so the socket is made on a short-lived thread of its own.
 * Returns the descriptor or -errno. */
int hob_socket_in_netns(int netns_fd, int family);

/* A TCP socket in state LISTEN, from the kernel's socket diagnostics (sock_diag(7)). */
struct hob_tcp_listener {
    uint64_t inode;
    uint8_t address[16];  // network order; the first 4 bytes for AF_INET
    uint16_t port;
    uint8_t family;       // AF_INET or AF_INET6
};
/* The listening TCP sockets (IPv4 and IPv6) of the network namespace of the process whose /proc
 * directory is open as `proc_dir_fd`, asked of the kernel over a NETLINK_SOCK_DIAG socket made in
 * that namespace. Fills up to `capacity` entries and returns how many there are (call again with
 * more room when that is larger), or -errno (the process is gone, say). */
int hob_tcp_listeners(int proc_dir_fd, struct hob_tcp_listener *out, int capacity);
// Adds the default IPv4 route via `gateway`.
int hob_route_default(const char *gateway);

// MARK: - Network (host side, rtnetlink; netlink.c)

// Creates the veth pair `host_name` ⇄ `peer_name`: the host end a port of `bridge`, the peer in
// the network namespace of `peer_netns_pid` with MAC `peer_mac`; then makes the host end an
// isolated port that neither learns addresses nor floods unknown unicast, and brings it up.
// (`ip link add … type veth peer name … address … netns …`, `ip link set … master …`,
// `ip link set dev … type bridge_slave isolated on learning off flood off`, `ip link set … up`.)
// EEXIST when `host_name` exists. On a failure after the pair exists, the caller removes it.
int hob_veth_create(const char *host_name, const char *bridge, pid_t peer_netns_pid, const char *peer_name,
                    const uint8_t peer_mac[6]);
// A static entry for `mac` on the bridge port `port` (`bridge fdb replace … dev … master static`).
int hob_fdb_pin(const char *port, const uint8_t mac[6]);
// Deletes the network interface `name` (ENODEV when there is none).
int hob_link_delete(const char *name);

// One element of an nf_tables set: the set's name and the key's bytes as the kernel stores them
// (an `ifname` is 16 bytes, zero-padded; each part of a concatenation is padded to 4 bytes).
typedef struct {
    const char *set;
    uint8_t key[64];
    uint32_t key_len;
} hob_nft_element;
// Adds (`add` = 1; an element already there is not an error) or deletes (0; ENOENT when one is
// missing) `count` (1…8) elements in sets of the nf_tables table `table` of `family`
// (NFPROTO_BRIDGE = 7, NFPROTO_INET = 1), in one transaction: all or nothing.
int hob_nft_set_elements(int add, uint8_t family, const char *table, const hob_nft_element *elements, int count);

// MARK: - btrfs (ioctls: no process spawn on the hot path)

// Snapshot `src` (a subvolume) as `dst_dir/name`, optionally read-only.
int hob_btrfs_snapshot(const char *src, const char *dst_dir, const char *name, int readonly);
int hob_btrfs_subvol_create(const char *dir, const char *name);
int hob_btrfs_subvol_delete(const char *dir, const char *name);
// 1 when `path` is the root of a btrfs subvolume, 0 when not, -1 on error.
int hob_btrfs_is_subvolume(const char *path);
// 1 when `path` is on btrfs.
int hob_is_btrfs(const char *path);
// Syncs the filesystem containing `path` (btrfs: BTRFS_IOC_SYNC).
int hob_btrfs_sync(const char *path);
// Like hob_btrfs_snapshot; a non-zero `qgroup` (level << 48 | id) gets the new subvolume as a member.
int hob_btrfs_snapshot_in_qgroup(const char *src, const char *dst_dir, const char *name, int readonly, uint64_t qgroup);
// Simple quotas (squota): enable; create (create=1) or destroy (0) a qgroup; make `child` a member of
// `parent` (assign=1) or not (0); limit a qgroup's referenced and exclusive bytes (0: no limit).
// `path` is any directory of the filesystem.
int hob_btrfs_quota_enable_simple(const char *path);
int hob_btrfs_qgroup_create(const char *path, uint64_t qgroup, int create);
int hob_btrfs_qgroup_assign(const char *path, uint64_t child, uint64_t parent, int assign);
int hob_btrfs_qgroup_limit(const char *path, uint64_t qgroup, uint64_t bytes);
// The id of the subvolume `path` is in.
int hob_btrfs_subvolume_id(const char *path, uint64_t *id);
// The filesystem's UUID as text (its directory under /sys/fs/btrfs).
int hob_btrfs_fsid(const char *path, char out[37]);

// MARK: - loop devices

// The device and inode of the file backing the loop device `path` (LOOP_GET_STATUS64): which loop
// device serves a given file, whatever path it was attached through. ENXIO when it is unbound.
int hob_loop_backing(const char *path, uint64_t *device, uint64_t *inode);
