#ifndef WARDEN_H2O_H
#define WARDEN_H2O_H
// An HTTP/2 (h2c, prior knowledge) server on libh2o's event loop, behind an opaque API Swift can call.
// libh2o's API embeds callbacks in structs it allocates (handlers sized by the caller, receivers linked
// into queues, dispose hooks on memory pools) and is full of inline functions and macros; this file keeps
// all of that in C. One event-loop thread per server; connections are handed in already accepted (the
// caller has seen the HTTP/2 connection preface); answers may come from any thread.
#include <stddef.h>
#include <stdint.h>

struct warden_h2o_server;
/// One request (stream) waiting for its answer. Reference-counted: the caller owns one reference from
/// the request callback until it calls `warden_h2o_respond` or `warden_h2o_release` (exactly one of them).
struct warden_h2o_exchange;

struct warden_h2o_field {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

struct warden_h2o_limits {
    unsigned int connection_limit;          // connections served at once; more are closed on arrival
    unsigned int idle_timeout_seconds;      // a connection with no stream open is closed after this long
    unsigned int max_concurrent_requests;   // requests per connection handled at once (h2o queues the rest)
    size_t max_header_bytes;                // method + target + authority + fields (+4 each) above this → 431
    size_t max_body_bytes;                  // request bodies above this → 413 (bodies are counted, never kept)
    unsigned int body_timeout_ms;           // a request whose headers/body are unfinished after this → GOAWAY (0: none)
    unsigned int reset_budget;              // requests reset unanswered per window before GOAWAY (0: no limit)
    unsigned int reset_window_ms;
};

/// Called on the event-loop thread for each complete request within the limits. Pointers are valid only
/// during the call. `peer` is an IP literal ("" when unknown).
typedef void (*warden_h2o_request_cb)(void *context, struct warden_h2o_exchange *exchange,
                                      const char *method, size_t method_len,
                                      const char *target, size_t target_len,
                                      const char *authority, size_t authority_len,
                                      const struct warden_h2o_field *fields, size_t field_count,
                                      const char *peer, uint16_t peer_port);

/// Called on the event-loop thread when a request's stream is gone before it was answered (the client reset
/// it, or the connection closed). The caller's reference stays valid until it answers or releases it
/// (an answer given now or later is dropped).
typedef void (*warden_h2o_cancel_cb)(void *context, struct warden_h2o_exchange *exchange);

/// Starts the event-loop thread. Returns NULL (errno set) when the thread cannot start.
struct warden_h2o_server *warden_h2o_start(struct warden_h2o_limits limits, warden_h2o_request_cb on_request,
                                           warden_h2o_cancel_cb on_cancel, void *context);

/// Hands over an accepted socket whose first bytes are the HTTP/2 connection preface (not consumed).
/// Any thread. Takes ownership of `fd`; returns 0 (and closes it) past the connection limit or after stop.
int warden_h2o_add_connection(struct warden_h2o_server *server, int fd);

/// Answers `exchange` (copies everything) and drops the caller's reference. Any thread: on the loop
/// thread it is sent at once, elsewhere it is queued to the loop. Dropped if the stream is gone.
void warden_h2o_respond(struct warden_h2o_exchange *exchange, int status, const struct warden_h2o_field *fields,
                        size_t field_count, const uint8_t *body, size_t body_len);

/// Drops the caller's reference without answering (the stream is reset when it is closed).
void warden_h2o_release(struct warden_h2o_exchange *exchange);

/// Connections open now.
size_t warden_h2o_connections(struct warden_h2o_server *server);

/// Sends GOAWAY on every connection (graceful: streams already open are still answered). Any thread.
void warden_h2o_goaway(struct warden_h2o_server *server);

/// Closes every connection, stops and joins the loop thread. The server must not be used afterwards;
/// its memory is kept (libh2o 2.2 cannot tear a context down), a few kilobytes per stopped server.
void warden_h2o_stop(struct warden_h2o_server *server);

#endif
