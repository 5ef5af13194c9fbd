/* JWS signing through the signer: what the CA will verify. */
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
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "../../certs/acme.h"
#include "../../certs/pki.h"
#include "../../certs/signer.h"

static char dir[] = "/tmp/chatstack-test-jws-XXXXXX";
static char keypath[256];

static int
setup(void **state)
{
	(void)state;
	if (tmpdir_make(dir) != 0)
		return -1;
	snprintf(keypath, sizeof keypath, "%s/account.key", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	return tmpdir_remove(dir);
}

/* Decodes base64url member key of obj into b. */
static void
member(json_t *obj, const char *key, struct buf *b)
{
	const char *s;

	s = json_string_value(json_object_get(obj, key));
	assert_non_null(s);
	assert_int_equal(pki_b64_decode(s, b), 0);
}

/* Rebuilds the public key from a P-256 JWK. */
static EVP_PKEY *
jwk_key(json_t *jwk)
{
	struct buf x = BUF_INIT, y = BUF_INIT;
	unsigned char point[65];
	OSSL_PARAM_BLD *bld;
	OSSL_PARAM *params;
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *key = NULL;

	member(jwk, "x", &x);
	member(jwk, "y", &y);
	assert_int_equal(x.len, 32);
	assert_int_equal(y.len, 32);
	point[0] = 4;
	memcpy(point + 1, x.data, 32);
	memcpy(point + 33, y.data, 32);
	bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM_BLD_push_utf8_string(
	    bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
	OSSL_PARAM_BLD_push_octet_string(
	    bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point);
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 1);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	buf_free(&x);
	buf_free(&y);
	return key;
}

/* Verifies an ES256 raw r||s signature over input. */
static int
es256_verify(EVP_PKEY *key, const char *input, const struct buf *sig)
{
	ECDSA_SIG *es;
	BIGNUM *r, *s;
	unsigned char *der = NULL;
	EVP_MD_CTX *ctx;
	int len, ok;

	if (sig->len != 64)
		return 0;
	r = BN_bin2bn((unsigned char *)sig->data, 32, NULL);
	s = BN_bin2bn((unsigned char *)sig->data + 32, 32, NULL);
	es = ECDSA_SIG_new();
	ECDSA_SIG_set0(es, r, s);
	len = i2d_ECDSA_SIG(es, &der);
	ctx = EVP_MD_CTX_new();
	ok = EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
	    EVP_DigestVerify(ctx, der, (size_t)len,
		(const unsigned char *)input, strlen(input)) == 1;
	EVP_MD_CTX_free(ctx);
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	return ok;
}

static json_t *
decoded_json(json_t *jws, const char *key)
{
	struct buf b = BUF_INIT;
	json_t *j;

	member(jws, key, &b);
	j = json_loadb(b.data, b.len, 0, NULL);
	buf_free(&b);
	return j;
}

static void
check_jws(struct signer *s, const char *kid)
{
	json_t *payload, *jws, *prot, *body;
	struct buf sig = BUF_INIT;
	EVP_PKEY *key;
	char *input, *cause = NULL;

	payload = json_pack("{s:s}", "hello", "ca");
	jws = acme_jws(s, "https://ca.test/acme/new-order", "nonce-1", kid,
	    payload, &cause);
	assert_non_null(jws);
	prot = decoded_json(jws, "protected");
	assert_string_equal(
	    json_string_value(json_object_get(prot, "alg")), "ES256");
	assert_string_equal(
	    json_string_value(json_object_get(prot, "nonce")), "nonce-1");
	assert_string_equal(json_string_value(json_object_get(prot, "url")),
	    "https://ca.test/acme/new-order");
	if (kid != NULL) {
		assert_string_equal(
		    json_string_value(json_object_get(prot, "kid")), kid);
		assert_null(json_object_get(prot, "jwk"));
	} else {
		assert_true(
		    json_equal(json_object_get(prot, "jwk"), signer_jwk(s)));
		assert_null(json_object_get(prot, "kid"));
	}
	body = decoded_json(jws, "payload");
	assert_true(json_equal(body, payload));

	member(jws, "signature", &sig);
	input = NULL;
	assert_true(
	    asprintf(&input, "%s.%s",
		json_string_value(json_object_get(jws, "protected")),
		json_string_value(json_object_get(jws, "payload"))) > 0);
	key = jwk_key(signer_jwk(s));
	assert_true(es256_verify(key, input, &sig));
	/* A changed byte no longer verifies. */
	input[3] ^= 1;
	assert_false(es256_verify(key, input, &sig));

	free(input);
	EVP_PKEY_free(key);
	buf_free(&sig);
	json_decref(body);
	json_decref(prot);
	json_decref(jws);
	json_decref(payload);
}

static void
test_jws_local_signer_signs_with_jwk_and_kid(void **state)
{
	struct signer *s;
	char *cause = NULL;
	int created;

	(void)state;
	unlink(keypath);
	s = signer_open(SIGNER_LOCAL, keypath, &created, &cause);
	assert_non_null(s);
	assert_true(created);
	check_jws(s, NULL);
	check_jws(s, "https://ca.test/acme/acct/1");
	signer_close(s);
}

static void
test_jws_process_signer_signs_the_same_way(void **state)
{
	struct signer *s;
	char *cause = NULL;

	(void)state;
	s = signer_open(SIGNER_PROCESS, keypath, NULL, &cause);
	assert_non_null(s);
	check_jws(s, NULL);
	check_jws(s, "https://ca.test/acme/acct/1");
	signer_close(s);
}

static void
test_jws_post_as_get_has_empty_payload(void **state)
{
	struct signer *s;
	json_t *jws;
	char *cause = NULL;

	(void)state;
	s = signer_open(SIGNER_LOCAL, keypath, NULL, &cause);
	assert_non_null(s);
	jws = acme_jws(s, "https://ca.test/order/1", "n", "kid", NULL, &cause);
	assert_non_null(jws);
	assert_string_equal(
	    json_string_value(json_object_get(jws, "payload")), "");
	json_decref(jws);
	signer_close(s);
}

static void
test_jws_account_key_is_made_once_and_private(void **state)
{
	struct signer *a, *b;
	struct stat sb;
	char *cause = NULL;
	int created;

	(void)state;
	unlink(keypath);
	a = signer_open(SIGNER_PROCESS, keypath, &created, &cause);
	assert_non_null(a);
	assert_true(created);
	assert_int_equal(stat(keypath, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	b = signer_open(SIGNER_LOCAL, keypath, &created, &cause);
	assert_non_null(b);
	assert_false(created);
	assert_true(json_equal(signer_jwk(a), signer_jwk(b)));
	assert_string_equal(signer_thumbprint(a), signer_thumbprint(b));
	signer_close(a);
	signer_close(b);

	/* A key others can read is refused, not used. */
	assert_int_equal(chmod(keypath, 0644), 0);
	assert_null(signer_open(SIGNER_LOCAL, keypath, NULL, &cause));
	assert_non_null(strstr(cause, "open to group or others"));
	free(cause);
	assert_int_equal(chmod(keypath, 0600), 0);
}

static void
test_jws_thumbprint_is_rfc7638(void **state)
{
	struct signer *s;
	unsigned char md[32];
	char *text, *want, *cause = NULL;
	json_t *jwk;

	(void)state;
	s = signer_open(SIGNER_LOCAL, keypath, NULL, &cause);
	assert_non_null(s);
	jwk = signer_jwk(s);
	assert_true(asprintf(&text,
			"{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\"%s\","
			"\"y\":\"%s\"}",
			json_string_value(json_object_get(jwk, "x")),
			json_string_value(json_object_get(jwk, "y"))) > 0);
	SHA256((unsigned char *)text, strlen(text), md);
	want = pki_b64url(md, sizeof md);
	assert_string_equal(signer_thumbprint(s), want);
	free(want);
	free(text);
	signer_close(s);
}

static void
test_jws_eab_is_hs256_over_the_account_jwk(void **state)
{
	static const unsigned char key[] = "0123456789abcdef0123456789abcdef";
	struct buf sig = BUF_INIT;
	struct signer *s;
	unsigned char md[32];
	unsigned int mdlen;
	char path[300], *text, *input, *cause = NULL;
	json_t *eab, *prot, *payload;
	FILE *f;

	(void)state;
	snprintf(path, sizeof path, "%s/eab.key", dir);
	text = pki_b64url(key, 32);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "  %s\n", text);
	fclose(f);
	free(text);

	s = signer_open(SIGNER_PROCESS, keypath, NULL, &cause);
	assert_non_null(s);
	eab = signer_eab(s, "kid-7", path, "https://ca.test/new-acct", &cause);
	assert_non_null(eab);
	prot = decoded_json(eab, "protected");
	assert_string_equal(
	    json_string_value(json_object_get(prot, "alg")), "HS256");
	assert_string_equal(
	    json_string_value(json_object_get(prot, "kid")), "kid-7");
	assert_string_equal(json_string_value(json_object_get(prot, "url")),
	    "https://ca.test/new-acct");
	payload = decoded_json(eab, "payload");
	assert_true(json_equal(payload, signer_jwk(s)));

	assert_true(
	    asprintf(&input, "%s.%s",
		json_string_value(json_object_get(eab, "protected")),
		json_string_value(json_object_get(eab, "payload"))) > 0);
	HMAC(EVP_sha256(), key, 32, (unsigned char *)input, strlen(input), md,
	    &mdlen);
	member(eab, "signature", &sig);
	assert_int_equal(sig.len, 32);
	assert_memory_equal(sig.data, md, 32);

	/* A key file that is not base64url is named. */
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "not base64!\n");
	fclose(f);
	assert_null(signer_eab(s, "kid-7", path, "https://x", &cause));
	assert_non_null(strstr(cause, "is not base64url"));
	free(cause);

	free(input);
	buf_free(&sig);
	json_decref(payload);
	json_decref(prot);
	json_decref(eab);
	signer_close(s);
}

static void
test_jws_base64url_round_trips(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} v[] = {{"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"}, {"\xfb\xff", "-_8"}};
	struct buf b = BUF_INIT;
	size_t i;
	char *s;

	(void)state;
	for (i = 0; i < sizeof v / sizeof v[0]; i++) {
		s = pki_b64url(v[i].in, strlen(v[i].in));
		assert_string_equal(s, v[i].out);
		buf_reset(&b);
		assert_int_equal(pki_b64_decode(s, &b), 0);
		assert_int_equal(b.len, strlen(v[i].in));
		assert_memory_equal(b.data, v[i].in, b.len);
		free(s);
	}
	buf_reset(&b);
	assert_int_equal(pki_b64_decode("Zm9v+/8=", &b), 0);
	buf_reset(&b);
	assert_int_equal(pki_b64_decode("Zm9vY", &b), -1);
	buf_reset(&b);
	assert_int_equal(pki_b64_decode("Zm$v", &b), -1);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jws_local_signer_signs_with_jwk_and_kid),
	    cmocka_unit_test(test_jws_process_signer_signs_the_same_way),
	    cmocka_unit_test(test_jws_post_as_get_has_empty_payload),
	    cmocka_unit_test(test_jws_account_key_is_made_once_and_private),
	    cmocka_unit_test(test_jws_thumbprint_is_rfc7638),
	    cmocka_unit_test(test_jws_eab_is_hs256_over_the_account_jwk),
	    cmocka_unit_test(test_jws_base64url_round_trips),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
