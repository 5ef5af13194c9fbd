/* The report for scripts (one JSON document) and for people (a table). */
#include <stdio.h>
#include <string.h>

#include "preflight-int.h"

#define PF_COL_STATUS 8
#define PF_COL_ID 19
#define PF_COL_MEASURED 34

static json_t *
pf_string_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
preflight_result_json(const struct preflight_result *r)
{
	json_t *o;

	o = json_object();
	json_object_set_new(o, "id", json_string(r->check->id));
	json_object_set_new(o, "title", json_string(r->check->title));
	json_object_set_new(o, "severity",
	    json_string(preflight_severity_name(r->check->severity)));
	json_object_set_new(
	    o, "status", json_string(preflight_status_name(r->status)));
	json_object_set_new(o, "message", pf_string_or_null(r->message));
	json_object_set_new(o, "measured", pf_string_or_null(r->measured));
	json_object_set_new(o, "required", pf_string_or_null(r->required));
	json_object_set_new(o, "remedy", pf_string_or_null(r->remedy));
	json_object_set_new(o, "waived",
	    json_boolean(r->waiver != NULL && r->unwaived != r->status));
	json_object_set_new(o, "waiver", pf_string_or_null(r->waiver));
	if (r->unwaived != r->status)
		json_object_set_new(o, "status_unwaived",
		    json_string(preflight_status_name(r->unwaived)));
	json_object_set_new(
	    o, "data", r->data != NULL ? json_incref(r->data) : json_object());
	return o;
}

json_t *
preflight_report_json(const struct preflight_report *rep)
{
	json_t *o, *checks;
	size_t i;

	checks = json_array();
	for (i = 0; i < rep->n; i++)
		json_array_append_new(
		    checks, preflight_result_json(&rep->results[i]));
	o = json_object();
	json_object_set_new(o, "version", json_integer(1));
	json_object_set_new(
	    o, "profile", json_string(preflight_profile_name(rep->profile)));
	json_object_set_new(o, "root", json_string(rep->root));
	json_object_set_new(
	    o, "ok", json_boolean(preflight_report_errors(rep) == 0));
	json_object_set_new(o, "counts",
	    json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "error",
		(json_int_t)rep->counts[PREFLIGHT_FAIL], "warning",
		(json_int_t)rep->counts[PREFLIGHT_WARN], "info",
		(json_int_t)rep->counts[PREFLIGHT_NOTE], "pass",
		(json_int_t)rep->counts[PREFLIGHT_PASS], "skipped",
		(json_int_t)rep->counts[PREFLIGHT_SKIP], "waived",
		(json_int_t)rep->waived));
	json_object_set_new(o, "checks", checks);
	return o;
}

static const char *
pf_colour(enum preflight_status s)
{
	switch (s) {
	case PREFLIGHT_PASS:
		return "\033[32m";
	case PREFLIGHT_NOTE:
		return "\033[36m";
	case PREFLIGHT_WARN:
		return "\033[33m";
	case PREFLIGHT_FAIL:
		return "\033[1;31m";
	case PREFLIGHT_SKIP:
		return "\033[2m";
	}
	return "";
}

static const char *
pf_label(const struct preflight_result *r)
{
	if (r->waiver != NULL && r->unwaived != r->status)
		return "WAIVED";
	switch (r->status) {
	case PREFLIGHT_PASS:
		return "ok";
	case PREFLIGHT_NOTE:
		return "info";
	case PREFLIGHT_WARN:
		return "WARN";
	case PREFLIGHT_FAIL:
		return "ERROR";
	case PREFLIGHT_SKIP:
		return "skipped";
	}
	return "?";
}

static void
pf_print_result(FILE *f, const struct preflight_result *r, int color)
{
	const char *measured = r->measured != NULL ? r->measured : "-";
	char cut[PF_COL_MEASURED + 1];
	int pad;

	/* The table stays a table; the JSON and the message say it all. */
	if (strlen(measured) > PF_COL_MEASURED) {
		snprintf(
		    cut, sizeof cut, "%.*s...", PF_COL_MEASURED - 3, measured);
		measured = cut;
	}
	pad = PF_COL_MEASURED - (int)strlen(measured);
	fprintf(f, "%s%-*s%s %-*s %s%*s  %s\n",
	    color ? pf_colour(r->status) : "", PF_COL_STATUS, pf_label(r),
	    color ? "\033[0m" : "", PF_COL_ID, r->check->id, measured,
	    pad > 0 ? pad : 0, "", r->required != NULL ? r->required : "");
	if (r->status != PREFLIGHT_PASS || r->unwaived != r->status)
		fprintf(f, "%*s %s\n", PF_COL_STATUS, "", r->message);
	if (r->remedy != NULL &&
	    (r->status != PREFLIGHT_PASS || r->unwaived != r->status))
		fprintf(f, "%*s fix: %s\n", PF_COL_STATUS, "", r->remedy);
	if (r->waiver != NULL)
		fprintf(f, "%*s waived: %s%s\n", PF_COL_STATUS, "", r->waiver,
		    r->unwaived == PREFLIGHT_FAIL ? " (an error, shown as a "
						    "warning)"
						  : " (no error to waive now)");
}

void
preflight_report_print(FILE *f, const struct preflight_report *rep, int color)
{
	size_t i, errors;

	fprintf(f, "%s%-*s %-*s %-*s  %s%s\n", color ? "\033[1m" : "",
	    PF_COL_STATUS, "STATUS", PF_COL_ID, "CHECK", PF_COL_MEASURED,
	    "MEASURED", "REQUIRED", color ? "\033[0m" : "");
	for (i = 0; i < rep->n; i++)
		pf_print_result(f, &rep->results[i], color);

	errors = rep->counts[PREFLIGHT_FAIL];
	fprintf(f,
	    "\npreflight (%s profile): %zu error%s, %zu warning%s "
	    "(%zu waived), %zu info, %zu passed, %zu skipped\n",
	    preflight_profile_name(rep->profile), errors,
	    errors == 1 ? "" : "s", rep->counts[PREFLIGHT_WARN],
	    rep->counts[PREFLIGHT_WARN] == 1 ? "" : "s", rep->waived,
	    rep->counts[PREFLIGHT_NOTE], rep->counts[PREFLIGHT_PASS],
	    rep->counts[PREFLIGHT_SKIP]);
	if (errors > 0)
		fprintf(f,
		    "An install would refuse to start: fix the errors above, "
		    "or waive one in the answers (preflight.waive, with a "
		    "reason).\n");
	else
		fprintf(f, "Nothing stands in the way of an install.\n");
}
