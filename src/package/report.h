/* A list of problems found while checking a package. */
#pragma once

#include <stddef.h>

#define CS_REPORT_MAX_STORED 1000

typedef struct cs_report {
    char **problems; /* the first CS_REPORT_MAX_STORED problems */
    size_t stored;
    size_t count; /* all problems, including those not stored */
} cs_report;

void cs_report_add(cs_report *report, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cs_report_free(cs_report *report);
