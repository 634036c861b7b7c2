/* Lexical path handling: the public form of package paths, and the
 * normalization of '.', '..' and repeated '/' without touching the disk. */
#pragma once

#include <stdbool.h>

/* Folder that contains the app's own files in every path the app gets:
 * the package path "lib/a.js" is "/app/lib/a.js" in __filename, stack
 * traces and require.resolve(). */
#define CS_APP_VROOT "/app"

/* Join base and path (both without a leading '/'), drop empty and '.'
 * components, apply '..' and store the result, without leading or trailing
 * '/', in a new string (the empty string for the top). A '..' above the top
 * returns -EACCES, unless clamp is set: then it stays at the top, as '/..'
 * does in POSIX paths. Returns 0, -EACCES or -ENOMEM. */
int cs_app_path_normalize(const char *base, const char *path, bool clamp, char **out);

/* Folder of a package path in a new string ("" for a file at the top). */
char *cs_app_vpath_dirname(const char *path);

/* "/app/" + path in a new string ("/app" for the empty path). */
char *cs_app_vpath_to_public(const char *path);

/* Package path of a public path in a new string: "/app/x" gives "x" and
 * "/app" gives "". Returns NULL when public_path is not below /app or has a
 * '.' or '..' component or an empty component. */
char *cs_app_vpath_from_public(const char *public_path);
