/* Node's CommonJS resolution of require() requests, confined to the app
 * folder.
 *
 * Relative requests ("./x", "../y") and absolute ones below /app resolve as
 * in Node: the exact file, then ".js", ".json", then a folder's package.json
 * "main" and index.js or index.json. Bare requests search node_modules in
 * the requiring module's folder and each parent up to the app root, honour
 * package.json "exports" (conditions "require" and "default") and "main".
 * Nothing resolves outside the app folder. */
#pragma once

#include "app/package.h"
#include "common/error.h"

/* Resolve request as required from the module at the package path parent
 * (NULL for the top folder). On success *out is a new package path.
 * Errors: -ENOENT (not found, or a Node built-in module that the host does
 * not provide), -EACCES (the request leaves the app folder), -EINVAL (an
 * invalid package.json), -EPERM (a path the package does not export), and
 * -CS_EVERIFY when a package.json read on the way fails verification. */
int cs_app_resolve(const cs_app_package *pkg, const char *request, const char *parent, char **out,
                   cs_error *err);

/* Node-style error code ("MODULE_NOT_FOUND", ...) for an error of
 * cs_app_resolve. */
const char *cs_app_resolve_error_code(int code);
