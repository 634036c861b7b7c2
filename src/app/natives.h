/* The object of native functions that bootstrap.js receives. Each part of
 * the host adds its functions to it, and bootstrap.js builds the app's
 * globals (console, require, timers, cashstory, ...) on top of them.
 * bootstrap.js lists every member it uses. */
#pragma once

#include "app/host.h"

/* Build the whole object. */
JSObjectRef cs_app_natives_create(cs_app_host *host);

/* The parts, one per source file. */
void cs_app_console_install(cs_app_host *host, JSObjectRef natives);
void cs_app_modules_install(cs_app_host *host, JSObjectRef natives);
void cs_app_timers_install(cs_app_host *host, JSObjectRef natives);
void cs_app_encoding_install(cs_app_host *host, JSObjectRef natives);
void cs_app_fs_install(cs_app_host *host, JSObjectRef natives);
void cs_app_info_install(cs_app_host *host, JSObjectRef natives);
void cs_app_bus_install(cs_app_host *host, JSObjectRef natives);
