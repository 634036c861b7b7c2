/* The host's own JavaScript, bootstrap.js and bus.js, compiled into the
 * binary by embed.cmake. */
#pragma once

#include <stddef.h>

extern const char cs_app_bootstrap_js[];
extern const size_t cs_app_bootstrap_js_len;

extern const char cs_app_bus_js[];
extern const size_t cs_app_bus_js_len;
