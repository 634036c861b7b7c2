#include "package/report.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void cs_report_add(cs_report *report, const char *fmt, ...)
{
    report->count++;
    if (report->stored >= CS_REPORT_MAX_STORED)
        return;
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&text, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char **grown = realloc(report->problems, (report->stored + 1) * sizeof(*grown));
    if (!grown) {
        free(text);
        return;
    }
    report->problems = grown;
    report->problems[report->stored++] = text;
}

void cs_report_free(cs_report *report)
{
    for (size_t i = 0; i < report->stored; i++)
        free(report->problems[i]);
    free(report->problems);
    report->problems = NULL;
    report->stored = report->count = 0;
}
