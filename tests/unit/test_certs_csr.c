/* Certificate requests and the certificate facts renewal relies on. */
#include <sys/stat.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tmpdir.h"
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "../../certs/localca.h"
#include "../../certs/pki.h"
#include "../../certs/signer.h"

static char dir[] = "/tmp/chatstack-test-csr-XXXXXX";

static int
setup(void **state)
{
	(void)state;
	return tmpdir_make(dir);
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

static char *
in_dir(const char *name)
{
	return tmpdir_path(dir, name);
}

static X509_REQ *
parse_csr(const struct buf *der)
{
	const unsigned char *p = (const unsigned char *)der->data;

	return d2i_X509_REQ(NULL, &p, (long)der->len);
}

/* The DNS names in a request's subjectAltName, comma-joined. */
static void
csr_names(X509_REQ *req, char *out, size_t len)
{
	STACK_OF(X509_EXTENSION) * exts;
	GENERAL_NAMES *gens;
	const GENERAL_NAME *g;
	int i;

	out[0] = '\0';
	exts = X509_REQ_get_extensions(req);
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
		g = sk_GENERAL_NAME_value(gens, i);
		assert_int_equal(g->type, GEN_DNS);
		if (i > 0)
			strncat(out, ",", len - strlen(out) - 1);
		strncat(out, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
		    len - strlen(out) - 1);
	}
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

static void
test_csr_names_every_host_and_is_signed_by_its_key(void **state)
{
	char *names[] = {"chat.example.com", "www.example.com"};
	struct buf der = BUF_INIT;
	struct signer *s;
	struct stat sb;
	X509_REQ *req;
	EVP_PKEY *key;
	char *cause = NULL, got[256], cn[256];
	int changed;

	(void)state;
	s = signer_open(SIGNER_PROCESS, in_dir("account.key"), NULL, &cause);
	assert_non_null(s);
	assert_int_equal(
	    signer_csr(s, PKI_KEY_EC256, names, 2, &der, &cause), 0);
	assert_non_null(req = parse_csr(&der));
	assert_int_equal(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	csr_names(req, got, sizeof got);
	assert_string_equal(got, "chat.example.com,www.example.com");
	X509_NAME_get_text_by_NID(
	    X509_REQ_get_subject_name(req), NID_commonName, cn, sizeof cn);
	assert_string_equal(cn, "chat.example.com");
	assert_int_equal(
	    pki_key_type_of(X509_REQ_get0_pubkey(req)), PKI_KEY_EC256);

	/* The key the signer writes is the request's, mode 0600. */
	assert_int_equal(
	    signer_commit_key(s, in_dir("privkey.pem"), &changed, &cause), 0);
	assert_true(changed);
	assert_int_equal(stat(in_dir("privkey.pem"), &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_non_null(key = pki_key_load(in_dir("privkey.pem"), &cause));
	assert_int_equal(EVP_PKEY_eq(key, X509_REQ_get0_pubkey(req)), 1);
	/* The account key is another key. */
	EVP_PKEY_free(key);
	assert_non_null(key = pki_key_load(in_dir("account.key"), &cause));
	assert_int_not_equal(EVP_PKEY_eq(key, X509_REQ_get0_pubkey(req)), 1);

	EVP_PKEY_free(key);
	X509_REQ_free(req);
	buf_free(&der);
	signer_close(s);
}

static void
test_csr_rsa2048_by_answer(void **state)
{
	char *names[] = {"chat.example.com"};
	struct buf der = BUF_INIT;
	struct signer *s;
	X509_REQ *req;
	char *cause = NULL;

	(void)state;
	s = signer_open(SIGNER_LOCAL, in_dir("account.key"), NULL, &cause);
	assert_non_null(s);
	assert_int_equal(
	    signer_csr(s, PKI_KEY_RSA2048, names, 1, &der, &cause), 0);
	assert_non_null(req = parse_csr(&der));
	assert_int_equal(
	    pki_key_type_of(X509_REQ_get0_pubkey(req)), PKI_KEY_RSA2048);
	assert_int_equal(X509_REQ_verify(req, X509_REQ_get0_pubkey(req)), 1);
	X509_REQ_free(req);
	buf_free(&der);
	signer_close(s);
}

static void
test_csr_refuses_a_name_that_is_not_a_host(void **state)
{
	char *names[] = {"chat.example.com", "bad name,DNS:evil.com"};
	struct buf der = BUF_INIT;
	struct signer *s;
	char *cause = NULL;

	(void)state;
	s = signer_open(SIGNER_LOCAL, in_dir("account.key"), NULL, &cause);
	assert_non_null(s);
	assert_int_equal(
	    signer_csr(s, PKI_KEY_EC256, names, 2, &der, &cause), -1);
	assert_non_null(strstr(cause, "is not a valid host name"));
	free(cause);
	/* Nothing to commit after a refused request. */
	cause = NULL;
	buf_free(&der);
	signer_close(s);
}

static void
test_csr_commit_without_request_is_refused(void **state)
{
	struct signer *s;
	char *cause = NULL;

	(void)state;
	s = signer_open(SIGNER_PROCESS, in_dir("account.key"), NULL, &cause);
	assert_non_null(s);
	assert_int_equal(
	    signer_commit_key(s, in_dir("nokey.pem"), NULL, &cause), -1);
	assert_int_equal(access(in_dir("nokey.pem"), F_OK), -1);
	free(cause);
	signer_close(s);
}

static void
test_certs_renewal_is_due_with_a_third_left(void **state)
{
	struct pki_info info;

	(void)state;
	memset(&info, 0, sizeof info);
	info.not_before = 1000000;
	info.not_after = 1000000 + 90 * 86400;
	assert_int_equal(pki_renew_after(&info), 1000000 + 60 * 86400);
}

static void
test_certs_names_compare_as_sets(void **state)
{
	char *have[] = {"a.example.com", "B.example.com"};
	char *same[] = {"b.example.com", "a.example.com"};
	char *more[] = {"a.example.com", "b.example.com", "c.example.com"};
	struct pki_info info;

	(void)state;
	memset(&info, 0, sizeof info);
	info.names = have;
	info.nnames = 2;
	assert_true(pki_names_equal(&info, same, 2));
	assert_false(pki_names_equal(&info, more, 3));
	assert_false(pki_names_equal(&info, more, 1));
}

static void
test_certs_local_ca_signs_names_and_addresses(void **state)
{
	char *names[] = {"chat.example.com", "192.0.2.7", "2001:db8::7"};
	struct buf chain = BUF_INIT, key = BUF_INIT;
	STACK_OF(X509) * certs;
	struct pki_info info;
	char sub[300], *cause = NULL, *fp;
	int created;

	(void)state;
	snprintf(sub, sizeof sub, "%s/ca", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	assert_int_equal(
	    localca_ensure(sub, "chat.example.com", &created, &cause), 0);
	assert_true(created);
	assert_int_equal(
	    localca_ensure(sub, "chat.example.com", &created, &cause), 0);
	assert_false(created);
	assert_int_equal(
	    localca_issue(sub, names, 3, PKI_KEY_EC256, &chain, &key, &cause),
	    0);
	certs = pki_certs_parse(chain.data, chain.len, "chain", &cause);
	assert_non_null(certs);
	assert_int_equal(sk_X509_num(certs), 2);
	assert_true(localca_signed(sub, sk_X509_value(certs, 0)));
	pki_info_get(sk_X509_value(certs, 0), &info);
	assert_true(pki_names_equal(&info, names, 3));
	assert_true(info.not_after - info.not_before <=
	    (LOCALCA_SERVER_DAYS + 1) * 86400L);
	pki_info_free(&info);

	pki_info_get(sk_X509_value(certs, 1), &info);
	fp = localca_fingerprint(sub, &cause);
	assert_string_equal(fp, info.fingerprint);
	assert_int_equal(strlen(fp), 32 * 3 - 1);
	free(fp);
	pki_info_free(&info);
	pki_certs_free(certs);
	buf_free(&chain);
	buf_wipe(&key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_csr_names_every_host_and_is_signed_by_its_key),
	    cmocka_unit_test(test_csr_rsa2048_by_answer),
	    cmocka_unit_test(test_csr_refuses_a_name_that_is_not_a_host),
	    cmocka_unit_test(test_csr_commit_without_request_is_refused),
	    cmocka_unit_test(test_certs_renewal_is_due_with_a_third_left),
	    cmocka_unit_test(test_certs_names_compare_as_sets),
	    cmocka_unit_test(test_certs_local_ca_signs_names_and_addresses),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
