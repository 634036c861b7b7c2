/* setTimeout and setInterval on libuv timers. */
#pragma once

#include <stddef.h>
#include <stdint.h>

typedef struct cs_app_timer cs_app_timer;

/* Active timers by id: a hash table with chaining, so that clearTimeout
 * finds a timer in constant time. */
typedef struct cs_app_timers {
    cs_app_timer **buckets;
    size_t nbuckets; /* a power of two, or 0 before the first timer */
    size_t count;
    uint32_t last_id;
} cs_app_timers;

/* Free the table. Call after the loop has closed every timer. */
void cs_app_timers_free(cs_app_timers *timers);
