#ifndef H2O_USE_LIBUV
#define H2O_USE_LIBUV 0
#endif
#include <h2o.h>
#include <h2o/http2.h>
#include <h2o/http2_internal.h> // the connection and stream structs (h2o-khash/khash.h: Debian ships no khash.h)
#include <h2o/multithread.h>
#include "warden_h2o.h"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

// Everything below runs on the loop thread unless its comment says "any thread".

struct warden_h2o_handler {
    h2o_handler_t super;
    struct warden_h2o_server *server;
};

typedef ssize_t (*warden_frame_reader)(h2o_http2_conn_t *conn, const uint8_t *src, size_t len, const char **err_desc);

/// One accepted connection, so stop can shut every socket down (libh2o 2.2 has no "close all").
struct warden_h2o_conn {
    h2o_linklist_t link;
    struct warden_h2o_server *server;
    int fd;
    h2o_http2_conn_t *h2;          // libh2o's connection (its `super` is the `h2o_conn_t *` requests carry)
    warden_frame_reader inner;     // libh2o's reader for what comes next (preface, frames, CONTINUATION)
    warden_frame_reader preface;   // libh2o's first reader: nothing is intercepted before the preface is in
    warden_frame_reader frames;    // libh2o's frame reader (expect_default), once the preface is in
    uint64_t resets_since;         // start of the current early-reset window (h2o_now, ms)
    unsigned resets;               // requests disposed unanswered in that window
    int cut;                       // the socket was shut down (the body timeout, second time)
};

/// Marks a stream answered 413 by Warden (in `_expected_content_length`, which libh2o reads only when the
/// body completes, and this stream's never does): the rest of its body is dropped.
#define WARDEN_BODY_REFUSED (SIZE_MAX - 1)
/// How often the loop looks for request streams whose headers or body take too long.
enum { WARDEN_H2O_TICK_MS = 250 };

/// How much one read hands libh2o. libh2o 2.2 decodes every complete header block of a read before any
/// answer is written, caps a block only at ~400 KB encoded (H2O_MAX_REQLEN), and HPACK lets one byte
/// repeat a 4 KB table entry: a block costs up to ~100 bytes of field list per byte received before the
/// size check in on_req can refuse it. A small receive buffer bounds what one read can cost
/// (test_h2c_header_list_bomb_is_431_and_bounded_in_memory); checks are a few hundred bytes each.
enum { WARDEN_H2O_RECEIVE_BUFFER = 64 * 1024 };

struct warden_h2o_server {
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept_ctx;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t receiver;
    pthread_t thread;
    struct warden_h2o_limits limits;
    warden_h2o_request_cb on_request;
    warden_h2o_cancel_cb on_cancel;
    void *context;
    h2o_timeout_t tick;             // the body timeout's sweep
    h2o_timeout_entry_t tick_entry;
    h2o_linklist_t conns;      // warden_h2o_conn, loop thread only
    atomic_size_t connections; // admitted and not closed yet
    atomic_int stopped;        // no more connections are admitted
    int exiting;               // loop thread: leave the loop once every connection is closed
    atomic_int exited;         // the loop thread is done: its pthread_t may name another thread from now on
};

struct warden_h2o_exchange {
    atomic_int refs;                    // one for the request (dropped when h2o disposes it), one for the caller
    h2o_req_t *req;                     // NULL once h2o disposed the request; loop thread only
    int answered;                       // an answer was handed to h2o; loop thread only
    struct warden_h2o_server *server;
};

enum warden_h2o_message_kind { WARDEN_H2O_ADD, WARDEN_H2O_RESPOND, WARDEN_H2O_GOAWAY, WARDEN_H2O_STOP };

struct warden_h2o_message {
    h2o_multithread_message_t super;
    enum warden_h2o_message_kind kind;
    int fd;
    struct warden_h2o_exchange *exchange;
    int status;
    size_t field_count;
    struct warden_h2o_field *fields; // into `storage`
    const uint8_t *body;             // into `storage`
    size_t body_len;
    char storage[];
};

static void exchange_release(struct warden_h2o_exchange *exchange) {
    if (atomic_fetch_sub(&exchange->refs, 1) == 1) free(exchange);
}

static struct warden_h2o_conn *conn_of(h2o_http2_conn_t *h2) { return h2->sock->on_close.data; }

/// What libh2o's own enqueue_goaway does: GOAWAY (last stream: the highest opened), and no new streams.
/// libh2o then decodes no further HEADERS (nor, see read_frames, CONTINUATION) on the connection, and
/// closes it once the answers under way are written.
static void half_close(h2o_http2_conn_t *h2, int errnum, const char *why) {
    if (h2->state != H2O_HTTP2_CONN_STATE_OPEN) return;
    h2o_http2_encode_goaway_frame(&h2->_write.buf, h2->pull_stream_ids.max_open, errnum, h2o_iovec_init(why, strlen(why)));
    h2o_http2_conn_request_write(h2);
    h2->state = H2O_HTTP2_CONN_STATE_HALF_CLOSED;
}

static void on_request_disposed(void *p) {
    struct warden_h2o_exchange *exchange = *(struct warden_h2o_exchange **)p;
    h2o_req_t *req = exchange->req;
    exchange->req = NULL;
    if (req != NULL && !exchange->answered) {
        // The stream is gone before its answer (the client reset it, or the connection closed): the check
        // waiting for it stops (a wait for keys frees its place at once).
        struct warden_h2o_server *server = exchange->server;
        if (server->on_cancel != NULL) server->on_cancel(server->context, exchange);
        // Rapid reset (CVE-2023-44487): libh2o closes a reset stream at once, so streams reset while their
        // check runs count against no stream limit. Past the budget, GOAWAY.
        h2o_http2_conn_t *h2 = (h2o_http2_conn_t *)req->conn;
        if (h2->state == H2O_HTTP2_CONN_STATE_OPEN && server->limits.reset_budget > 0) {
            struct warden_h2o_conn *conn = conn_of(h2);
            uint64_t now = h2o_now(server->ctx.loop);
            if (now - conn->resets_since > (uint64_t)server->limits.reset_window_ms) {
                conn->resets_since = now;
                conn->resets = 0;
            }
            if (++conn->resets > server->limits.reset_budget) half_close(h2, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM, "too many streams reset");
        }
    }
    exchange_release(exchange);
}

static void send_answer(h2o_req_t *req, int status, const struct warden_h2o_field *fields, size_t field_count,
                        const uint8_t *body, size_t body_len) {
    req->res.status = status;
    req->res.reason = status == 200 ? "OK" : "";
    for (size_t i = 0; i != field_count; ++i) {
        // HTTP/2 field names are lower-case (RFC 9113 §8.2.1); the length comes from h2o.
        h2o_iovec_t name = h2o_strdup(&req->pool, fields[i].name, fields[i].name_len);
        for (size_t j = 0; j != name.len; ++j)
            if (name.base[j] >= 'A' && name.base[j] <= 'Z') name.base[j] = (char)(name.base[j] - 'A' + 'a');
        if (h2o_memis(name.base, name.len, H2O_STRLIT("content-length"))) continue;
        h2o_iovec_t value = h2o_strdup(&req->pool, fields[i].value, fields[i].value_len);
        h2o_add_header_by_str(&req->pool, &req->res.headers, name.base, name.len, 1, NULL, value.base, value.len);
    }
    req->res.content_length = body_len;
    h2o_send_inline(req, (const char *)body, body_len);
}

static void send_text(h2o_req_t *req, int status, const char *text) {
    struct warden_h2o_field type = {H2O_STRLIT("content-type"), H2O_STRLIT("text/plain; charset=utf-8")};
    send_answer(req, status, &type, 1, (const uint8_t *)text, strlen(text));
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
    struct warden_h2o_server *server = ((struct warden_h2o_handler *)self)->server;
    size_t bytes = req->input.method.len + req->input.path.len + req->input.authority.len;
    for (size_t i = 0; i != req->headers.size; ++i) bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (bytes > server->limits.max_header_bytes) {
        send_text(req, 431, "request header fields too large\n");
        // The connection closes once its answers are written, as libmicrohttpd closes an HTTP/1.1 one after
        // a 431. GOAWAY at once, so that libh2o decodes no further header block on it (a read can hold
        // several, each decoded before the size check here can refuse it).
        half_close((h2o_http2_conn_t *)req->conn, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM, "header list too large");
        return 0;
    }
    struct warden_h2o_field stack_fields[64];
    struct warden_h2o_field *fields = stack_fields;
    if (req->headers.size > 64) fields = h2o_mem_alloc_pool(&req->pool, sizeof(*fields) * req->headers.size);
    for (size_t i = 0; i != req->headers.size; ++i) {
        fields[i] = (struct warden_h2o_field){req->headers.entries[i].name->base, req->headers.entries[i].name->len,
                                             req->headers.entries[i].value.base, req->headers.entries[i].value.len};
    }
    char peer[INET6_ADDRSTRLEN] = "";
    uint16_t port = 0;
    struct sockaddr_storage sa;
    if (req->conn->callbacks->get_peername != NULL && req->conn->callbacks->get_peername(req->conn, (struct sockaddr *)&sa) > 0) {
        if (sa.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, peer, sizeof(peer));
            port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
        } else if (sa.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, peer, sizeof(peer));
            port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
        }
    }
    struct warden_h2o_exchange *exchange = malloc(sizeof(*exchange));
    if (exchange == NULL) {
        send_text(req, 503, "out of memory\n");
        return 0;
    }
    atomic_init(&exchange->refs, 2);
    exchange->req = req;
    exchange->answered = 0;
    exchange->server = server;
    struct warden_h2o_exchange **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_request_disposed);
    *slot = exchange;
    server->on_request(server->context, exchange, req->input.method.base, req->input.method.len, req->input.path.base,
                       req->input.path.len, req->input.authority.base, req->input.authority.len, fields,
                       req->headers.size, peer, port);
    return 0;
}


/// libh2o 2.2's input-window bookkeeping (its update_input_window is static): WINDOW_UPDATE once half spent.
static void consume_window(h2o_http2_conn_t *h2, uint32_t stream_id, h2o_http2_window_t *window, size_t consumed) {
    h2o_http2_window_consume_window(window, consumed);
    if (h2o_http2_window_get_window(window) * 2 < H2O_HTTP2_SETTINGS_HOST.initial_window_size) {
        int32_t delta = (int32_t)(H2O_HTTP2_SETTINGS_HOST.initial_window_size - h2o_http2_window_get_window(window));
        h2o_http2_encode_window_update_frame(&h2->_write.buf, stream_id, delta);
        h2o_http2_conn_request_write(h2);
        h2o_http2_window_update(window, delta);
    }
}

enum { WARDEN_PASS = -1000 }; // not one of libh2o's H2O_HTTP2_ERROR_* values

/// What Warden does with a frame before libh2o's reader sees it; WARDEN_PASS leaves it to libh2o.
static ssize_t intercept(struct warden_h2o_conn *conn, h2o_http2_conn_t *h2, const uint8_t *src, size_t len,
                         const char **err_desc) {
    if (conn->frames == NULL) return WARDEN_PASS; // the preface is not in yet
    h2o_http2_frame_t frame;
    const char *ignored = NULL;
    ssize_t size = h2o_http2_decode_frame(&frame, src, len, &H2O_HTTP2_SETTINGS_HOST, &ignored);
    if (size < 0) return WARDEN_PASS; // incomplete, or an error libh2o reports itself
    if (h2->_headers_unparsed != NULL) {
        // Inside a header block. libh2o 2.2.5 consumes nothing of a CONTINUATION once the connection is
        // half-closed (its reader returns 0) and would parse the same frame forever: skip the block here.
        if (h2->state == H2O_HTTP2_CONN_STATE_OPEN || frame.type != H2O_HTTP2_FRAME_TYPE_CONTINUATION) return WARDEN_PASS;
        if ((frame.flags & H2O_HTTP2_FRAME_FLAG_END_HEADERS) != 0) {
            h2o_buffer_dispose(&h2->_headers_unparsed);
            h2->_headers_unparsed = NULL;
            conn->inner = conn->frames;
        }
        return size;
    }
    if (h2->state != H2O_HTTP2_CONN_STATE_OPEN) return WARDEN_PASS;
    if (frame.type != H2O_HTTP2_FRAME_TYPE_DATA && frame.type != H2O_HTTP2_FRAME_TYPE_HEADERS) return WARDEN_PASS;
    h2o_http2_stream_t *stream = h2o_http2_conn_get_stream(h2, frame.stream_id);
    if (stream == NULL) return WARDEN_PASS;
    int refused = stream->_expected_content_length == WARDEN_BODY_REFUSED;
    if (!refused && stream->state != H2O_HTTP2_STREAM_STATE_RECV_BODY) return WARDEN_PASS;
    // Bytes of body so far: libh2o sets req.entity only once the body is complete, Warden counts in it till then.
    size_t received = stream->req.entity.len;
    if (frame.type == H2O_HTTP2_FRAME_TYPE_HEADERS) {
        // Trailers end the body: libh2o compares content-length with what it buffered (nothing).
        if (!refused && stream->_expected_content_length == received) stream->_expected_content_length = SIZE_MAX;
        return WARDEN_PASS;
    }
    h2o_http2_data_payload_t payload;
    if (h2o_http2_decode_data_payload(&payload, &frame, &ignored) != 0) return WARDEN_PASS;
    consume_window(h2, 0, &h2->_input_window, frame.length);
    if (refused) return size; // answered 413 already: the rest of the body is dropped
    received += payload.length;
    if (received > conn->server->limits.max_body_bytes) {
        // 413 as on HTTP/1.1, before the request is complete (RFC 9113 §8.1 lets a server answer early). No
        // WINDOW_UPDATE for the stream: the client soon stops sending. libh2o's own limit would send
        // RST_STREAM(REFUSED_STREAM), which tells a client it may retry, and a proxy set to fail open on
        // errors (Envoy's failure_mode_allow) would let the request through.
        stream->_expected_content_length = WARDEN_BODY_REFUSED;
        h2o_http2_stream_set_state(h2, stream, H2O_HTTP2_STREAM_STATE_REQ_PENDING);
        h2o_http2_stream_set_state(h2, stream, H2O_HTTP2_STREAM_STATE_SEND_HEADERS);
        // h2o_send_error_generic binds the request to the host's configuration first (it never reached
        // the handler, so nothing did), which h2o_send_inline needs.
        h2o_send_error_generic(&stream->req, 413, "Request Entity Too Large", "request body too large\n", 0);
        return size;
    }
    stream->req.entity.len = received;
    consume_window(h2, stream->stream_id, &stream->input_window, frame.length);
    if ((frame.flags & H2O_HTTP2_FRAME_FLAG_END_STREAM) != 0) {
        // The body is complete: libh2o runs the request on an empty DATA frame with END_STREAM, as if the
        // body were empty (Warden never reads bodies; HTTP/1.1 discards them too). A content-length that
        // does not match what arrived is left for libh2o to refuse (RST_STREAM PROTOCOL_ERROR).
        if (stream->_expected_content_length == received) stream->_expected_content_length = SIZE_MAX;
        stream->req.entity = h2o_iovec_init(NULL, 0);
        uint8_t end[H2O_HTTP2_FRAME_HEADER_SIZE];
        h2o_http2_encode_frame_header(end, 0, H2O_HTTP2_FRAME_TYPE_DATA, H2O_HTTP2_FRAME_FLAG_END_STREAM, (int32_t)frame.stream_id);
        ssize_t ret = conn->inner(h2, end, sizeof(end), err_desc);
        if (ret < 0) return ret;
    }
    return size;
}

/// Stands in front of libh2o's frame reader (`_read_expect`) for the connection's whole life. Request bodies
/// are counted and dropped here, never buffered: libh2o 2.2 would keep each stream's body in memory up to
/// max_request_entity_size until it is complete.
static ssize_t read_frames(h2o_http2_conn_t *h2, const uint8_t *src, size_t len, const char **err_desc) {
    struct warden_h2o_conn *conn = conn_of(h2);
    ssize_t ret = intercept(conn, h2, src, len, err_desc);
    if (ret == WARDEN_PASS) ret = conn->inner(h2, src, len, err_desc);
    // libh2o switches readers (preface → frames → CONTINUATION and back): stay in front of each.
    if (h2->_read_expect != read_frames) {
        conn->inner = h2->_read_expect;
        if (conn->frames == NULL && conn->inner != conn->preface) conn->frames = conn->inner;
        h2->_read_expect = read_frames;
    }
    return ret;
}

/// The body timeout (think nginx's client_body_timeout): a connection holding a request stream whose
/// headers or body have not all arrived after `body_timeout_ms` gets GOAWAY (no new streams; libh2o drops
/// their DATA and closes the connection once the answers under way are written); one still holding it
/// after twice that is shut down.
static void on_tick(h2o_timeout_entry_t *entry) {
    struct warden_h2o_server *server = H2O_STRUCT_FROM_MEMBER(struct warden_h2o_server, tick_entry, entry);
    struct timeval now = *h2o_get_timestamp(&server->ctx, NULL, NULL);
    for (h2o_linklist_t *node = server->conns.next; node != &server->conns; node = node->next) {
        struct warden_h2o_conn *conn = H2O_STRUCT_FROM_MEMBER(struct warden_h2o_conn, link, node);
        h2o_http2_conn_t *h2 = conn->h2;
        if (h2 == NULL || conn->cut || h2->state == H2O_HTTP2_CONN_STATE_IS_CLOSING) continue;
        int64_t oldest_ms = 0;
        h2o_http2_stream_t *stream;
        kh_foreach_value(h2->streams, stream, {
            if (stream->state == H2O_HTTP2_STREAM_STATE_RECV_HEADERS || stream->state == H2O_HTTP2_STREAM_STATE_RECV_BODY) {
                int64_t age = (int64_t)(now.tv_sec - stream->req.timestamps.request_begin_at.tv_sec) * 1000 +
                              (now.tv_usec - stream->req.timestamps.request_begin_at.tv_usec) / 1000;
                if (age > oldest_ms) oldest_ms = age;
            }
        });
        if (oldest_ms <= (int64_t)server->limits.body_timeout_ms) continue;
        if (h2->state == H2O_HTTP2_CONN_STATE_OPEN) {
            half_close(h2, H2O_HTTP2_ERROR_ENHANCE_YOUR_CALM, "request timeout");
        } else if (oldest_ms > 2 * (int64_t)server->limits.body_timeout_ms) {
            conn->cut = 1;
            shutdown(conn->fd, SHUT_RDWR);
        }
    }
    h2o_timeout_link(server->ctx.loop, &server->tick, &server->tick_entry);
}

static void on_conn_close(void *data) {
    struct warden_h2o_conn *conn = data;
    h2o_linklist_unlink(&conn->link);
    atomic_fetch_sub(&conn->server->connections, 1);
    free(conn);
}

/// Each connection sees its socket end and closes through libh2o's own path (answers already queued are
/// still written after SHUT_RD; requests are disposed, which drops their exchanges).
static void shutdown_all(struct warden_h2o_server *server, int how) {
    for (h2o_linklist_t *node = server->conns.next; node != &server->conns; node = node->next)
        shutdown(H2O_STRUCT_FROM_MEMBER(struct warden_h2o_conn, link, node)->fd, how);
}

static void on_messages(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages) {
    struct warden_h2o_server *server = H2O_STRUCT_FROM_MEMBER(struct warden_h2o_server, receiver, receiver);
    while (!h2o_linklist_is_empty(messages)) {
        struct warden_h2o_message *message = H2O_STRUCT_FROM_MEMBER(struct warden_h2o_message, super.link, messages->next);
        h2o_linklist_unlink(&message->super.link);
        switch (message->kind) {
        case WARDEN_H2O_ADD: {
            struct warden_h2o_conn *conn = calloc(1, sizeof(*conn));
            if (conn == NULL || server->exiting) {
                free(conn);
                close(message->fd);
                atomic_fetch_sub(&server->connections, 1);
                break;
            }
            conn->server = server;
            conn->fd = message->fd;
            h2o_linklist_insert(&server->conns, &conn->link);
            int receive_buffer = WARDEN_H2O_RECEIVE_BUFFER;
            setsockopt(message->fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
            h2o_socket_t *sock = h2o_evloop_socket_create(server->ctx.loop, message->fd, 0);
            sock->on_close.cb = on_conn_close;
            sock->on_close.data = conn;
            struct timeval now;
            gettimeofday(&now, NULL);
            h2o_http2_accept(&server->accept_ctx, sock, now);
            conn->h2 = sock->data; // set by h2o_http2_accept
            conn->preface = conn->inner = conn->h2->_read_expect;
            conn->h2->_read_expect = read_frames;
            conn->resets_since = h2o_now(server->ctx.loop);
            break;
        }
        case WARDEN_H2O_RESPOND:
            if (message->exchange->req != NULL) message->exchange->answered = 1;
            if (message->exchange->req != NULL)
                send_answer(message->exchange->req, message->status, message->fields, message->field_count, message->body,
                            message->body_len);
            exchange_release(message->exchange);
            break;
        case WARDEN_H2O_GOAWAY:
            h2o_context_request_shutdown(&server->ctx);
            break;
        case WARDEN_H2O_STOP:
            server->exiting = 1;
            shutdown_all(server, SHUT_RD);
            break;
        }
        free(message);
    }
}

static void *run_loop(void *arg) {
    struct warden_h2o_server *server = arg;
    while (!server->exiting) h2o_evloop_run(server->ctx.loop, INT32_MAX);
    // After STOP: up to 1 s for the connections to flush and close, then cut the rest (1 s more).
    for (int round = 0; round != 200 && atomic_load(&server->connections) != 0; ++round) {
        if (round == 100) shutdown_all(server, SHUT_RDWR);
        h2o_evloop_run(server->ctx.loop, 10);
    }
    // The connections that would not close: their sockets (libh2o's memory for them stays, as its context's).
    while (!h2o_linklist_is_empty(&server->conns)) {
        struct warden_h2o_conn *conn = H2O_STRUCT_FROM_MEMBER(struct warden_h2o_conn, link, server->conns.next);
        h2o_linklist_unlink(&conn->link);
        if (conn->h2 != NULL) conn->h2->sock->on_close.cb = NULL;
        close(conn->fd);
        atomic_fetch_sub(&server->connections, 1);
        free(conn);
    }
    // Set before this thread ends, so no thread that reuses its pthread_t can be taken for the loop.
    atomic_store(&server->exited, 1);
    return NULL;
}

struct warden_h2o_server *warden_h2o_start(struct warden_h2o_limits limits, warden_h2o_request_cb on_request,
                                           warden_h2o_cancel_cb on_cancel, void *context) {
    struct warden_h2o_server *server = calloc(1, sizeof(*server));
    if (server == NULL) return NULL;
    server->limits = limits;
    server->on_request = on_request;
    server->on_cancel = on_cancel;
    server->context = context;
    h2o_linklist_init_anchor(&server->conns);
    atomic_init(&server->connections, 0);
    atomic_init(&server->stopped, 0);
    atomic_init(&server->exited, 0);
    h2o_config_init(&server->config);
    server->config.server_name = h2o_iovec_init(NULL, 0); // no Server field (libmicrohttpd sends none either)
    server->config.max_request_entity_size = limits.max_body_bytes;
    server->config.http2.idle_timeout = (uint64_t)limits.idle_timeout_seconds * 1000;
    server->config.http2.graceful_shutdown_timeout = 0; // stop closes the stragglers itself
    if (limits.max_concurrent_requests > 0) server->config.http2.max_concurrent_requests_per_connection = limits.max_concurrent_requests;
    h2o_hostconf_t *host = h2o_config_register_host(&server->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    struct warden_h2o_handler *handler = (struct warden_h2o_handler *)h2o_create_handler(path, sizeof(*handler));
    handler->super.on_req = on_req;
    handler->server = server;
    h2o_context_init(&server->ctx, h2o_evloop_create(), &server->config);
    server->accept_ctx.ctx = &server->ctx;
    server->accept_ctx.hosts = server->config.hosts;
    server->queue = h2o_multithread_create_queue(server->ctx.loop);
    h2o_multithread_register_receiver(server->queue, &server->receiver, on_messages);
    if (server->limits.body_timeout_ms > 0) {
        h2o_timeout_init(server->ctx.loop, &server->tick, WARDEN_H2O_TICK_MS);
        server->tick_entry.cb = on_tick;
        h2o_timeout_link(server->ctx.loop, &server->tick, &server->tick_entry);
    }
    int error = pthread_create(&server->thread, NULL, run_loop, server);
    if (error != 0) {
        errno = error;
        return NULL; // the loop and context stay allocated: libh2o 2.2 cannot tear them down
    }
    return server;
}

static struct warden_h2o_message *message_new(enum warden_h2o_message_kind kind, size_t extra) {
    struct warden_h2o_message *message = calloc(1, sizeof(*message) + extra);
    if (message != NULL) message->kind = kind;
    return message;
}

int warden_h2o_add_connection(struct warden_h2o_server *server, int fd) {
    if (atomic_load(&server->stopped)) {
        close(fd);
        return 0;
    }
    if (atomic_fetch_add(&server->connections, 1) >= server->limits.connection_limit) {
        atomic_fetch_sub(&server->connections, 1);
        close(fd);
        return 0;
    }
    struct warden_h2o_message *message = message_new(WARDEN_H2O_ADD, 0);
    if (message == NULL) {
        atomic_fetch_sub(&server->connections, 1);
        close(fd);
        return 0;
    }
    message->fd = fd;
    h2o_multithread_send_message(&server->receiver, &message->super);
    return 1;
}

void warden_h2o_respond(struct warden_h2o_exchange *exchange, int status, const struct warden_h2o_field *fields,
                        size_t field_count, const uint8_t *body, size_t body_len) {
    struct warden_h2o_server *server = exchange->server;
    if (atomic_load(&server->exited)) {
        // The loop is gone (stopped): nothing can send the answer, and a thread reusing the loop's
        // pthread_t must not touch the connection's memory as if it were the loop.
        exchange_release(exchange);
        return;
    }
    if (pthread_equal(pthread_self(), server->thread)) {
        if (exchange->req != NULL) exchange->answered = 1;
        if (exchange->req != NULL) send_answer(exchange->req, status, fields, field_count, body, body_len);
        exchange_release(exchange);
        return;
    }
    size_t extra = sizeof(*fields) * field_count + body_len;
    for (size_t i = 0; i != field_count; ++i) extra += fields[i].name_len + fields[i].value_len;
    struct warden_h2o_message *message = message_new(WARDEN_H2O_RESPOND, extra);
    if (message == NULL) {
        exchange_release(exchange); // the stream is reset when its connection closes
        return;
    }
    message->exchange = exchange;
    message->status = status;
    message->field_count = field_count;
    message->fields = (struct warden_h2o_field *)message->storage;
    char *cursor = message->storage + sizeof(*fields) * field_count;
    for (size_t i = 0; i != field_count; ++i) {
        memcpy(cursor, fields[i].name, fields[i].name_len);
        message->fields[i].name = cursor;
        message->fields[i].name_len = fields[i].name_len;
        cursor += fields[i].name_len;
        memcpy(cursor, fields[i].value, fields[i].value_len);
        message->fields[i].value = cursor;
        message->fields[i].value_len = fields[i].value_len;
        cursor += fields[i].value_len;
    }
    if (body_len != 0) memcpy(cursor, body, body_len);
    message->body = (const uint8_t *)cursor;
    message->body_len = body_len;
    h2o_multithread_send_message(&server->receiver, &message->super);
}

void warden_h2o_release(struct warden_h2o_exchange *exchange) {
    // Dropping a reference is safe from any thread: `req` is only read on the loop thread.
    exchange_release(exchange);
}

size_t warden_h2o_connections(struct warden_h2o_server *server) { return atomic_load(&server->connections); }

void warden_h2o_goaway(struct warden_h2o_server *server) {
    struct warden_h2o_message *message = message_new(WARDEN_H2O_GOAWAY, 0);
    if (message != NULL) h2o_multithread_send_message(&server->receiver, &message->super);
}

void warden_h2o_stop(struct warden_h2o_server *server) {
    if (atomic_exchange(&server->stopped, 1)) return;
    struct warden_h2o_message *message = message_new(WARDEN_H2O_STOP, 0);
    if (message == NULL) abort();
    h2o_multithread_send_message(&server->receiver, &message->super);
    pthread_join(server->thread, NULL);
}
