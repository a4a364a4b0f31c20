#ifndef H2O_USE_LIBUV
#define H2O_USE_LIBUV 0
#endif
#include <h2o.h>
#include <h2o/http2.h>
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

/// One accepted connection, so stop can shut every socket down (libh2o 2.2 has no "close all").
struct warden_h2o_conn {
    h2o_linklist_t link;
    struct warden_h2o_server *server;
    int fd;
    void *h2o_conn; // libh2o's connection (the `h2o_conn_t *` its requests carry)
};

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
    void *context;
    h2o_linklist_t conns;      // warden_h2o_conn, loop thread only
    atomic_size_t connections; // admitted and not closed yet
    atomic_int stopped;        // no more connections are admitted
    int exiting;               // loop thread: leave the loop once every connection is closed
    atomic_int exited;         // the loop thread is done: its pthread_t may name another thread from now on
};

struct warden_h2o_exchange {
    atomic_int refs;                    // one for the request (dropped when h2o disposes it), one for the caller
    h2o_req_t *req;                     // NULL once h2o disposed the request; loop thread only
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

static void on_request_disposed(void *p) {
    struct warden_h2o_exchange *exchange = *(struct warden_h2o_exchange **)p;
    exchange->req = NULL;
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

/// After a 431 the connection closes once its answers are written, as libmicrohttpd closes an HTTP/1.1
/// connection after one: no more reads (SHUT_RD), so a client cannot go on sending oversized blocks on it.
static void close_after_answer(struct warden_h2o_server *server, h2o_conn_t *h2o_conn) {
    for (h2o_linklist_t *node = server->conns.next; node != &server->conns; node = node->next) {
        struct warden_h2o_conn *conn = H2O_STRUCT_FROM_MEMBER(struct warden_h2o_conn, link, node);
        if (conn->h2o_conn == h2o_conn) {
            shutdown(conn->fd, SHUT_RD);
            return;
        }
    }
}

static int on_req(h2o_handler_t *self, h2o_req_t *req) {
    struct warden_h2o_server *server = ((struct warden_h2o_handler *)self)->server;
    size_t bytes = req->input.method.len + req->input.path.len + req->input.authority.len;
    for (size_t i = 0; i != req->headers.size; ++i) bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
    if (bytes > server->limits.max_header_bytes) {
        send_text(req, 431, "request header fields too large\n");
        close_after_answer(server, req->conn);
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
    exchange->server = server;
    struct warden_h2o_exchange **slot = h2o_mem_alloc_shared(&req->pool, sizeof(*slot), on_request_disposed);
    *slot = exchange;
    server->on_request(server->context, exchange, req->input.method.base, req->input.method.len, req->input.path.base,
                       req->input.path.len, req->input.authority.base, req->input.authority.len, fields,
                       req->headers.size, peer, port);
    return 0;
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
            conn->h2o_conn = sock->data; // set by h2o_http2_accept
            break;
        }
        case WARDEN_H2O_RESPOND:
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
    // Set before this thread ends, so no thread that reuses its pthread_t can be taken for the loop.
    atomic_store(&server->exited, 1);
    return NULL;
}

struct warden_h2o_server *warden_h2o_start(struct warden_h2o_limits limits, warden_h2o_request_cb on_request,
                                           void *context) {
    struct warden_h2o_server *server = calloc(1, sizeof(*server));
    if (server == NULL) return NULL;
    server->limits = limits;
    server->on_request = on_request;
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
