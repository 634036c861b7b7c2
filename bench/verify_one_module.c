/* Measures, inside one process, how long a runtime takes to check one module at
 * load. The steps: read the package metadata, parse the signer key, verify the
 * Ed25519 signature over the index, and parse the index. Then hash the module
 * and compare it with its index entry. Also times cs_verify_dir on the app.
 *
 * Usage: verify_one_module APP_DIR MODULE TRUSTED_KEY.pub [ITERATIONS]
 *
 * APP_DIR is an installed app folder (the target of apps/ID/current), MODULE
 * a path inside it as the index spells it. Prints one JSON object with the
 * median, 10th and 90th percentile in microseconds of each phase over
 * ITERATIONS calls (default 1000), and the first call on its own.
 * bench/verify builds and runs it. */

#include "common/error.h"
#include "common/fsutil.h"
#include "crypto/digest.h"
#include "crypto/keys.h"
#include "crypto/signature.h"
#include "crypto/trust.h"
#include "package/index.h"
#include "package/verify.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    PHASE_READ,
    PHASE_KEY_PARSE,
    PHASE_SIGNATURE,
    PHASE_PARSE,
    PHASE_MODULE,
    PHASE_TOTAL,
    PHASE_VERIFY_DIR,
    PHASE_COUNT
};

static const char *const phase_names[PHASE_COUNT] = {
    "read_metadata", "key_parse",    "signature",  "index_parse",
    "module_sha256", "module_total", "verify_dir",
};

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void fail(const char *context, const cs_error *err)
{
    fprintf(stderr, "verify_one_module: %s: %s\n", context, err->message);
    exit(1);
}

/* Check module once, as a runtime would at load time, and store the time of
 * each phase in times[PHASE_READ .. PHASE_TOTAL]. Exits on any failure. */
static void check_module_once(int app_fd, const char *module, const cs_trust *trust,
                              double times[PHASE_COUNT])
{
    cs_error err = {0};
    uint8_t *index_data = NULL, *sig = NULL, *signer_pem = NULL;
    size_t index_len = 0, sig_len = 0, signer_len = 0;

    double t0 = now_us();
    if (cs_read_file_at(app_fd, CS_META_INDEX, CS_INDEX_MAX_BYTES, true, &index_data, &index_len,
                        &err) < 0 ||
        cs_read_file_at(app_fd, CS_META_SIGNATURE, CS_SIGNATURE_MAX, true, &sig, &sig_len, &err) <
            0 ||
        cs_read_file_at(app_fd, CS_META_SIGNER_KEY, CS_KEY_FILE_MAX, true, &signer_pem,
                        &signer_len, &err) < 0)
        fail("cannot read the package metadata", &err);

    double t1 = now_us();
    EVP_PKEY *key = NULL;
    if (cs_key_parse_public(signer_pem, signer_len, &key, &err) < 0)
        fail(CS_META_SIGNER_KEY, &err);

    /* Includes the key id (SHA-256 of the DER key) and the trust lookup. */
    double t_key = now_us();
    cs_signer signer;
    if (cs_verify_ed25519(key, CS_DOMAIN_PACKAGE_INDEX, index_data, index_len, sig, sig_len,
                          trust, &signer, &err) < 0)
        fail("signature", &err);
    if (!signer.trusted) {
        fprintf(stderr, "verify_one_module: the signer is not trusted: %s\n", signer.trust_note);
        exit(1);
    }
    EVP_PKEY_free(key);

    double t2 = now_us();
    cs_index index;
    if (cs_index_parse(index_data, index_len, &index, &err) < 0)
        fail(CS_META_INDEX, &err);

    double t3 = now_us();
    const cs_index_file *entry = cs_index_find(&index, module);
    if (!entry) {
        fprintf(stderr, "verify_one_module: '%s' is not in the index\n", module);
        exit(1);
    }
    int fd = cs_open_beneath(app_fd, module, O_RDONLY | O_NOCTTY | O_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "verify_one_module: cannot open '%s': %s\n", module, strerror(-fd));
        exit(1);
    }
    uint8_t digest[CS_SHA256_LEN];
    uint64_t hashed = 0;
    int rc = cs_sha256_fd(fd, entry->size, digest, &hashed);
    close(fd);
    if (rc < 0) {
        fprintf(stderr, "verify_one_module: cannot read '%s': %s\n", module, strerror(-rc));
        exit(1);
    }
    if (hashed != entry->size || !cs_digest_equal(digest, entry->sha256)) {
        fprintf(stderr, "verify_one_module: the size or SHA-256 of '%s' differs from the index\n",
                module);
        exit(1);
    }
    double t4 = now_us();

    cs_index_free(&index);
    free(index_data);
    free(sig);
    free(signer_pem);

    times[PHASE_READ] = t1 - t0;
    times[PHASE_KEY_PARSE] = t_key - t1;
    times[PHASE_SIGNATURE] = t2 - t_key;
    times[PHASE_PARSE] = t3 - t2;
    times[PHASE_MODULE] = t4 - t3;
    times[PHASE_TOTAL] = t4 - t0;
}

static double verify_dir_once(const char *app_dir, const cs_trust *trust)
{
    cs_verify_result res;
    cs_error err = {0};
    double t0 = now_us();
    int rc = cs_verify_dir(app_dir, trust, &res, &err);
    double t1 = now_us();
    cs_verify_result_free(&res);
    if (rc < 0)
        fail("cs_verify_dir", &err);
    return t1 - t0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Value at quantile q (0..1) of the sorted array values[0..n-1]. */
static double quantile(const double *values, size_t n, double q)
{
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return values[i];
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: %s APP_DIR MODULE TRUSTED_KEY.pub [ITERATIONS]\n", argv[0]);
        return 2;
    }
    const char *app_dir = argv[1], *module = argv[2], *key_path = argv[3];
    long iterations = argc == 5 ? strtol(argv[4], NULL, 10) : 1000;
    if (iterations < 10) {
        fprintf(stderr, "verify_one_module: ITERATIONS must be at least 10, got '%s'\n",
                argv[4]);
        return 2;
    }

    cs_error err = {0};
    cs_trust trust;
    cs_trust_init(&trust);
    if (cs_trust_add_key_file(&trust, key_path, &err) < 0)
        fail(key_path, &err);
    int app_fd = open(app_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (app_fd < 0) {
        fprintf(stderr, "verify_one_module: cannot open folder %s: %s\n", app_dir,
                strerror(errno));
        return 1;
    }

    /* The first call is reported on its own because it pays this process's
     * one-time costs, such as cold CPU caches and the first use of the Ed25519
     * verifier. Loading the trusted key above has already initialised OpenSSL. */
    double first[PHASE_COUNT] = {0};
    check_module_once(app_fd, module, &trust, first);
    first[PHASE_VERIFY_DIR] = verify_dir_once(app_dir, &trust);

    size_t n = (size_t)iterations;
    double *samples[PHASE_COUNT];
    for (int p = 0; p < PHASE_COUNT; p++) {
        samples[p] = calloc(n, sizeof(double));
        if (!samples[p]) {
            fprintf(stderr, "verify_one_module: out of memory\n");
            return 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        double times[PHASE_COUNT] = {0};
        check_module_once(app_fd, module, &trust, times);
        for (int p = PHASE_READ; p <= PHASE_TOTAL; p++)
            samples[p][i] = times[p];
    }
    for (size_t i = 0; i < n; i++)
        samples[PHASE_VERIFY_DIR][i] = verify_dir_once(app_dir, &trust);

    printf("{\"iterations\": %zu, \"phases\": {", n);
    for (int p = 0; p < PHASE_COUNT; p++) {
        qsort(samples[p], n, sizeof(double), compare_double);
        printf("%s\"%s\": {\"median_us\": %.1f, \"p10_us\": %.1f, \"p90_us\": %.1f, "
               "\"first_us\": %.1f}",
               p ? ", " : "", phase_names[p], quantile(samples[p], n, 0.5),
               quantile(samples[p], n, 0.1), quantile(samples[p], n, 0.9), first[p]);
        free(samples[p]);
    }
    printf("}}\n");

    close(app_fd);
    cs_trust_free(&trust);
    return 0;
}
