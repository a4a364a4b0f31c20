#include "warden_openssl.h"
