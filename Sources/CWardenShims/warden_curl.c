#include "warden_curl.h"
