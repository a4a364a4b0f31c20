#ifndef WARDEN_MHD_H
#define WARDEN_MHD_H
// Non-variadic wrappers around libmicrohttpd's variadic entry points (MHD_start_daemon,
// MHD_get_daemon_info, MHD_get_connection_info), callable from Swift.
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

/// What `warden_mhd_start_server` needs besides the address and the callbacks.
struct warden_mhd_limits {
    unsigned int connection_limit;            // MHD_OPTION_CONNECTION_LIMIT
    unsigned int connection_timeout_seconds;  // MHD_OPTION_CONNECTION_TIMEOUT (idle keep-alive connections)
    unsigned int thread_pool_size;            // MHD_OPTION_THREAD_POOL_SIZE; 0 or 1: one internal polling thread
    size_t connection_memory_limit;           // MHD_OPTION_CONNECTION_MEMORY_LIMIT (request line + headers); 0: default
    int suspend_resume;                       // MHD_ALLOW_SUSPEND_RESUME: answers may come later from another thread
    int no_listen_socket;                     // MHD_USE_NO_LISTEN_SOCKET: connections come from MHD_add_connection
};

/// Starts a daemon with internal polling thread(s), bound to exactly `address` (MHD_OPTION_SOCK_ADDR), or
/// with no listening socket at all (`limits.no_listen_socket`; `address` then only names the port in logs).
/// `ipv6` must be non-zero when `address` is a sockaddr_in6. `uri_log` (may be NULL) receives the raw
/// request target (path and query, not decoded) and returns the request's context pointer; `completed`
/// (may be NULL) is called once per request that got a context. Paths are passed to `handler` undecoded.
/// Returns NULL on failure and stores the errno observed right after the failure in `*error_out`.
struct MHD_Daemon *warden_mhd_start_server(const struct sockaddr *address, int ipv6,
                                           struct warden_mhd_limits limits,
                                           MHD_AccessHandlerCallback handler, void *handler_context,
                                           void *(*uri_log)(void *cls, const char *uri, struct MHD_Connection *connection),
                                           MHD_RequestCompletedCallback completed,
                                           int *error_out);

/// The port the daemon's listening socket is bound to (0 when unknown).
uint16_t warden_mhd_bound_port(struct MHD_Daemon *daemon);

/// The connection's peer address as text (IPv4 or IPv6 literal) and port; returns 0 when unknown.
int warden_mhd_client_address(struct MHD_Connection *connection, char *out, size_t out_len, uint16_t *port_out);

#endif
