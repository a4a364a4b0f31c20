#ifndef WARDEN_GRPC_H
#define WARDEN_GRPC_H
// Helpers for what Swift cannot call in gRPC core (function-like macros) or would need unsafe
// pointer juggling for (byte-buffer readers). Slices are always taken by pointer: a small slice
// keeps its bytes inline, so a by-value copy would hand back a pointer into a dead temporary.
#include <stddef.h>
#include <stdint.h>
#include <grpc/grpc.h>
#include <grpc/byte_buffer.h>
#include <grpc/slice.h>

static inline const uint8_t *warden_grpc_slice_start(const grpc_slice *slice) {
    return GRPC_SLICE_START_PTR(*slice);
}

static inline size_t warden_grpc_slice_length(const grpc_slice *slice) {
    return GRPC_SLICE_LENGTH(*slice);
}

/// Copies up to `capacity` bytes of `buffer` (any compression already undone by gRPC) into
/// `destination`; returns the number of bytes copied, or SIZE_MAX if the reader cannot be created.
size_t warden_grpc_byte_buffer_copy(grpc_byte_buffer *buffer, uint8_t *destination, size_t capacity);

/// A raw byte buffer holding a copy of `length` bytes at `bytes` (NULL allowed when length is 0).
grpc_byte_buffer *warden_grpc_byte_buffer_from_copy(const uint8_t *bytes, size_t length);

/// The method path of an unregistered call's details (bytes not NUL-terminated).
static inline const uint8_t *warden_grpc_call_details_method(const grpc_call_details *details, size_t *length) {
    *length = GRPC_SLICE_LENGTH(details->method);
    return GRPC_SLICE_START_PTR(details->method);
}

/// Names the calling thread (at most 15 bytes are kept), so gRPC queue threads show up in ps/top/gdb.
void warden_grpc_name_current_thread(const char *name);

#endif
