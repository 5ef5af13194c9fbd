/* What `chatstack certs status` shows about the TLS directory. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "fileio.h"
#include "localca.h"
#include "pki.h"
#include "xmalloc.h"

static json_t *
certs_status_file(const char *dir, const char *name)
{
	char *path, *text, *cause = NULL;
	size_t len;
	json_t *j;

	path = xasprintf("%s/%s", dir, name);
	text = file_read(path, 256 * 1024, &len, &cause);
	free(path);
	free(cause);
	if (text == NULL)
		return NULL;
	j = json_loadb(text, len, 0, NULL);
	free(text);
	return j;
}

static void
certs_status_time(json_t *st, const char *key, time_t t)
{
	char *s;

	s = pki_time_string(t);
	json_object_set_new(st, key, json_string(s));
	free(s);
}

json_t *
certs_status(const char *dir, char **cause)
{
	STACK_OF(X509) * certs;
	struct pki_info info;
	json_t *st, *state, *names, *last;
	char *path, *fp, *err = NULL;
	time_t now = time(NULL), renew;
	size_t i;
	const char *mode;

	if (dir == NULL)
		dir = CERTS_TLS_DIR;
	path = xasprintf("%s/%s", dir, CERTS_FULLCHAIN);
	if (access(path, F_OK) == -1) {
		*cause =
		    xasprintf("there is no certificate at '%s' yet; run "
			      "chatstack install or chatstack certs ensure",
			path);
		free(path);
		return NULL;
	}
	certs = pki_certs_load(path, cause);
	free(path);
	if (certs == NULL)
		return NULL;
	pki_info_get(sk_X509_value(certs, 0), &info);
	state = certs_status_file(dir, CERTS_STATE);
	mode = json_string_value(json_object_get(state, "mode"));

	names = json_array();
	for (i = 0; i < info.nnames; i++)
		json_array_append_new(names, json_string(info.names[i]));
	st = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s}", "tls_dir", dir, "mode",
	    mode != NULL ? mode : "unknown", "subject", info.subject, "issuer",
	    info.issuer, "names", names, "fingerprint", info.fingerprint);
	certs_status_time(st, "not_before", info.not_before);
	certs_status_time(st, "not_after", info.not_after);
	json_object_set_new(st, "days_left",
	    json_integer((json_int_t)(info.not_after - now) / 86400));
	json_object_set_new(st, "expired", json_boolean(info.not_after <= now));
	renew = pki_renew_after(&info);
	if (mode == NULL || strcmp(mode, "provided") != 0) {
		certs_status_time(st, "renew_after", renew);
		json_object_set_new(st, "due", json_boolean(now >= renew));
	}
	if ((last = certs_status_file(dir, CERTS_RENEWAL)) == NULL)
		last = json_null();
	json_object_set_new(st, "last_renewal", last);
	if (mode != NULL && strcmp(mode, "selfsigned") == 0) {
		if ((fp = localca_fingerprint(dir, &err)) != NULL)
			json_object_set_new(
			    st, "ca_fingerprint", json_string(fp));
		free(fp);
		free(err);
	}
	json_decref(state);
	pki_info_free(&info);
	pki_certs_free(certs);
	return st;
}
