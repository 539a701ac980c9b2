// rtnetlink on the sprite boot path: a sprite's veth pair and its bridge FDB entry, made with a
// few netlink messages in the daemon instead of `ip` and `bridge` processes (each spawn cost
// several milliseconds of every boot). See include/hob_shim.h.
#include "hob_shim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <sys/time.h>

// One request under construction: a header, a fixed part and attributes, in a buffer that is
// always big enough for what this file sends (a veth request is about 150 bytes).
typedef struct {
    char buf[1024];
    struct nlmsghdr *hdr;
    int overflow;
} nl_request;

static void nl_begin(nl_request *r, uint16_t type, uint16_t flags, const void *fixed, size_t fixed_len) {
    memset(r, 0, sizeof(*r));
    r->hdr = (struct nlmsghdr *)r->buf;
    r->hdr->nlmsg_type = type;
    r->hdr->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    r->hdr->nlmsg_len = NLMSG_LENGTH(fixed_len);
    memcpy(NLMSG_DATA(r->hdr), fixed, fixed_len);
}

static struct rtattr *nl_put(nl_request *r, uint16_t type, const void *data, size_t len) {
    size_t at = NLMSG_ALIGN(r->hdr->nlmsg_len);
    if (at + RTA_SPACE(len) > sizeof(r->buf)) {
        r->overflow = 1;
        return NULL;
    }
    struct rtattr *a = (struct rtattr *)(r->buf + at);
    a->rta_type = type;
    a->rta_len = RTA_LENGTH(len);
    if (len) memcpy(RTA_DATA(a), data, len);
    r->hdr->nlmsg_len = at + RTA_SPACE(len);
    return a;
}

static void nl_put_string(nl_request *r, uint16_t type, const char *s) { nl_put(r, type, s, strlen(s) + 1); }
static void nl_put_u8(nl_request *r, uint16_t type, uint8_t v) { nl_put(r, type, &v, 1); }
static void nl_put_u32(nl_request *r, uint16_t type, uint32_t v) { nl_put(r, type, &v, 4); }

// A nested attribute: open it, add its members, close it (which sets its length).
static struct rtattr *nl_open(nl_request *r, uint16_t type) { return nl_put(r, type | NLA_F_NESTED, NULL, 0); }
static void nl_close(nl_request *r, struct rtattr *nest) {
    if (nest) nest->rta_len = (unsigned short)(r->buf + r->hdr->nlmsg_len - (char *)nest);
}

// Raw bytes inside an open nest (the peer's struct ifinfomsg in a veth request).
static void nl_put_raw(nl_request *r, const void *data, size_t len) {
    size_t at = NLMSG_ALIGN(r->hdr->nlmsg_len);
    if (at + NLMSG_ALIGN(len) > sizeof(r->buf)) {
        r->overflow = 1;
        return;
    }
    memcpy(r->buf + at, data, len);
    r->hdr->nlmsg_len = at + NLMSG_ALIGN(len);
}

static int nl_open_socket(void) {
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0) return -1;
    // The kernel acknowledges every request; never wait for one forever.
    struct timeval timeout = {.tv_sec = 5};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    struct sockaddr_nl local = {.nl_family = AF_NETLINK};
    if (bind(s, (struct sockaddr *)&local, sizeof(local)) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

// Sends the request and waits for the kernel's acknowledgement. 0, or -1 with the kernel's errno.
static int nl_transact(int s, nl_request *r) {
    if (r->overflow) {
        errno = EMSGSIZE;
        return -1;
    }
    static uint32_t sequence;
    r->hdr->nlmsg_seq = __atomic_add_fetch(&sequence, 1, __ATOMIC_RELAXED);
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    ssize_t sent;
    do {
        sent = sendto(s, r->buf, r->hdr->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -1;
    char reply[4096];
    for (;;) {
        ssize_t n;
        do {
            n = recv(s, reply, sizeof(reply), 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) return -1;
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->hdr->nlmsg_seq) continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *err = NLMSG_DATA(h);
                if (err->error == 0) return 0;
                errno = -err->error;
                return -1;
            }
        }
    }
}

// Runs one request on a socket of its own (requests on the boot path are few; no shared state).
static int nl_run(nl_request *r) {
    int s = nl_open_socket();
    if (s < 0) return -1;
    int rc = nl_transact(s, r);
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int hob_veth_create(const char *host_name, const char *bridge, pid_t peer_netns_pid, const char *peer_name,
                    const uint8_t peer_mac[6]) {
    unsigned bridge_index = if_nametoindex(bridge);
    if (bridge_index == 0) return -1;
    if (strlen(host_name) >= IFNAMSIZ || strlen(peer_name) >= IFNAMSIZ) {
        errno = EINVAL;
        return -1;
    }
    nl_request r;
    struct ifinfomsg link = {.ifi_family = AF_UNSPEC};
    // 1. The pair: host end on the bridge (down, so it forwards nothing yet), peer in the sprite's
    //    network namespace with the sprite's MAC.
    nl_begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &link, sizeof(link));
    nl_put_string(&r, IFLA_IFNAME, host_name);
    nl_put_u32(&r, IFLA_MASTER, bridge_index);
    struct rtattr *info = nl_open(&r, IFLA_LINKINFO);
    nl_put_string(&r, IFLA_INFO_KIND, "veth");
    struct rtattr *data = nl_open(&r, IFLA_INFO_DATA);
    struct rtattr *peer = nl_open(&r, VETH_INFO_PEER);
    struct ifinfomsg peer_link = {.ifi_family = AF_UNSPEC};
    nl_put_raw(&r, &peer_link, sizeof(peer_link));
    nl_put_string(&r, IFLA_IFNAME, peer_name);
    nl_put(&r, IFLA_ADDRESS, peer_mac, 6);
    nl_put_u32(&r, IFLA_NET_NS_PID, (uint32_t)peer_netns_pid);
    nl_close(&r, peer);
    nl_close(&r, data);
    nl_close(&r, info);
    int s = nl_open_socket();
    if (s < 0) return -1;
    int rc = nl_transact(s, &r);
    if (rc == 0) {
        // 2. The bridge port: isolated, no learning, no flooding of unknown unicast; then up. The
        //    kernel applies the port settings before the flags, so it is never up unrestricted.
        unsigned index = if_nametoindex(host_name);
        if (index == 0) {
            rc = -1;
        } else {
            struct ifinfomsg port = {.ifi_family = AF_UNSPEC, .ifi_index = (int)index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
            nl_begin(&r, RTM_NEWLINK, 0, &port, sizeof(port));
            struct rtattr *port_info = nl_open(&r, IFLA_LINKINFO);
            nl_put_string(&r, IFLA_INFO_SLAVE_KIND, "bridge");
            struct rtattr *port_data = nl_open(&r, IFLA_INFO_SLAVE_DATA);
            nl_put_u8(&r, IFLA_BRPORT_ISOLATED, 1);
            nl_put_u8(&r, IFLA_BRPORT_LEARNING, 0);
            nl_put_u8(&r, IFLA_BRPORT_UNICAST_FLOOD, 0);
            nl_close(&r, port_data);
            nl_close(&r, port_info);
            rc = nl_transact(s, &r);
        }
    }
    int e = errno;
    close(s);
    errno = e;
    return rc;
}

int hob_fdb_pin(const char *port, const uint8_t mac[6]) {
    unsigned index = if_nametoindex(port);
    if (index == 0) return -1;
    // `bridge fdb replace <mac> dev <port> master static`: a static entry of the bridge (not of the
    // port's own FDB), never learned over, never aged out.
    struct ndmsg neigh = {
        .ndm_family = AF_BRIDGE, .ndm_ifindex = (int)index, .ndm_state = NUD_NOARP | NUD_REACHABLE, .ndm_flags = NTF_MASTER,
    };
    nl_request r;
    nl_begin(&r, RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE, &neigh, sizeof(neigh));
    nl_put(&r, NDA_LLADDR, mac, 6);
    return nl_run(&r);
}

int hob_link_delete(const char *name) {
    if (strlen(name) >= IFNAMSIZ) {
        errno = EINVAL;
        return -1;
    }
    struct ifinfomsg link = {.ifi_family = AF_UNSPEC};
    nl_request r;
    nl_begin(&r, RTM_DELLINK, 0, &link, sizeof(link));
    nl_put_string(&r, IFLA_IFNAME, name);
    return nl_run(&r);
}

// MARK: - nf_tables set elements (NETLINK_NETFILTER)
//
// `nft add element` / `nft delete element` for the sets that pin a sprite's bridge port, as one
// nf_tables transaction (a batch: begin, one message per set, end), without an `nft` process.

static void nft_header(nl_request *r, uint16_t type, uint16_t flags, uint8_t family, uint16_t res_id) {
    struct nfgenmsg gen = {.nfgen_family = family, .version = NFNETLINK_V0, .res_id = htons(res_id)};
    nl_begin(r, type, flags, &gen, sizeof(gen));
}

// A batch: messages one after another in one buffer, sent with one sendto.
typedef struct {
    char buf[4096];
    size_t len;
    int overflow;
} nft_batch;

// Appends the finished message in `m` to the batch.
static void nft_append(nft_batch *b, const nl_request *m) {
    if (m->overflow || b->len + m->hdr->nlmsg_len > sizeof(b->buf)) {
        b->overflow = 1;
        return;
    }
    memcpy(b->buf + b->len, m->buf, m->hdr->nlmsg_len);
    b->len += NLMSG_ALIGN(m->hdr->nlmsg_len);
}

int hob_nft_set_elements(int add, uint8_t family, const char *table, const hob_nft_element *elements, int count) {
    if (count <= 0 || count > 8 || strlen(table) >= 256) {
        errno = EINVAL;
        return -1;
    }
    static uint32_t sequence;
    uint32_t first = __atomic_add_fetch(&sequence, (uint32_t)count + 2, __ATOMIC_RELAXED) - (uint32_t)count - 1;
    nft_batch batch = {.len = 0};
    nl_request m;
    nft_header(&m, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    m.hdr->nlmsg_flags = NLM_F_REQUEST;
    m.hdr->nlmsg_seq = first;
    nft_append(&batch, &m);
    for (int i = 0; i < count; i++) {
        const hob_nft_element *e = &elements[i];
        if (e->key_len == 0 || e->key_len > sizeof(e->key)) {
            errno = EINVAL;
            return -1;
        }
        uint16_t type = (NFNL_SUBSYS_NFTABLES << 8) | (add ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
        // add: NLM_F_CREATE without NLM_F_EXCL, so an element already there is no error (as `nft add`).
        nft_header(&m, type, add ? NLM_F_CREATE : 0, family, 0);
        m.hdr->nlmsg_seq = first + 1 + (uint32_t)i;
        nl_put_string(&m, NFTA_SET_ELEM_LIST_TABLE, table);
        nl_put_string(&m, NFTA_SET_ELEM_LIST_SET, e->set);
        struct rtattr *list = nl_open(&m, NFTA_SET_ELEM_LIST_ELEMENTS);
        struct rtattr *element = nl_open(&m, NFTA_LIST_ELEM);
        struct rtattr *key = nl_open(&m, NFTA_SET_ELEM_KEY);
        nl_put(&m, NFTA_DATA_VALUE, e->key, e->key_len);
        nl_close(&m, key);
        nl_close(&m, element);
        nl_close(&m, list);
        nft_append(&batch, &m);
    }
    nft_header(&m, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    m.hdr->nlmsg_flags = NLM_F_REQUEST;
    m.hdr->nlmsg_seq = first + 1 + (uint32_t)count;
    nft_append(&batch, &m);
    if (batch.overflow) {
        errno = EMSGSIZE;
        return -1;
    }

    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (s < 0) return -1;
    // Every message asks for an acknowledgement; never wait for one forever.
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    int rc = -1;
    ssize_t sent;
    do {
        sent = sendto(s, batch.buf, batch.len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) goto out;
    int acked = 0;
    char reply[4096];
    while (acked < count) {
        ssize_t n;
        do {
            n = recv(s, reply, sizeof(reply), 0);
        } while (n < 0 && errno == EINTR);
        if (n < 0) goto out;
        for (struct nlmsghdr *h = (struct nlmsghdr *)reply; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq <= first || h->nlmsg_seq > first + (uint32_t)count) continue;
            const struct nlmsgerr *err = NLMSG_DATA(h);
            if (err->error != 0) {
                // The transaction is aborted as a whole: nothing of it took effect.
                errno = -err->error;
                goto out;
            }
            acked++;
        }
    }
    rc = 0;
out:;
    int e = errno;
    close(s);
    errno = e;
    return rc;
}
