/* Scope-bound cleanup helpers, so that early returns never leak. */
#pragma once

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define cs_cleanup(fn) __attribute__((cleanup(fn)))

static inline void cs_freep(void *p)
{
    free(*(void **)p);
}
static inline void cs_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void cs_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}
static inline void cs_json_decrefp(json_t **j)
{
    json_decref(*j);
}
static inline void cs_pkey_freep(EVP_PKEY **k)
{
    EVP_PKEY_free(*k);
}
static inline void cs_bio_freep(BIO **b)
{
    BIO_free(*b);
}
static inline void cs_x509_freep(X509 **x)
{
    X509_free(*x);
}
static inline void cs_x509_stack_freep(STACK_OF(X509) * *s)
{
    sk_X509_pop_free(*s, X509_free);
}
static inline void cs_md_ctx_freep(EVP_MD_CTX **c)
{
    EVP_MD_CTX_free(*c);
}
static inline void cs_cms_freep(CMS_ContentInfo **c)
{
    CMS_ContentInfo_free(*c);
}

#define cs_autofree cs_cleanup(cs_freep)
#define cs_autoclose cs_cleanup(cs_closep)
#define cs_autofclose cs_cleanup(cs_fclosep)
#define cs_autojson cs_cleanup(cs_json_decrefp)
#define cs_autopkey cs_cleanup(cs_pkey_freep)
#define cs_autobio cs_cleanup(cs_bio_freep)
#define cs_autox509 cs_cleanup(cs_x509_freep)
#define cs_autox509s cs_cleanup(cs_x509_stack_freep)
#define cs_automdctx cs_cleanup(cs_md_ctx_freep)
#define cs_autocms cs_cleanup(cs_cms_freep)

/* Transfer ownership out of an auto variable. */
#define cs_steal(pp)                                                                               \
    ({                                                                                             \
        __typeof__(*(pp)) stolen_ = *(pp);                                                         \
        *(pp) = NULL;                                                                              \
        stolen_;                                                                                   \
    })
