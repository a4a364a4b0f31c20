#include "warden_curl.h"
// All curl shims are static inline in the header; this unit keeps the file pair the layout expects.
