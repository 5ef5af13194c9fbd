/*
 * Group commit: several sockets' WebSocket sends in one transaction of
 * seven statements whatever their number (docs/chatd.md). The loop side
 * (the queue and the batches in flight) is in server.c.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chatd.h"
#include "db.h"
#include "store.h"
#include "xmalloc.h"

static int
send_cmp(const void *a, const void *b)
{
	const struct send *x = a, *y = b;

	if (x->cid != y->cid)
		return x->cid < y->cid ? -1 : 1;
	return 0;
}

/* Forgets what a failed batch put in an operation, to run it again. */
static void
send_reset(struct op *op)
{
	op->status = 0;
	op->ecode = NULL;
	free(op->emsg);
	op->emsg = NULL;
	json_decref(op->out);
	op->out = NULL;
}

/*
 * The batch's statements, one text per row count (the statement cache
 * is keyed by the text's address, so each is built once, at start):
 * bump each conversation's counter by its number of sends, read the new
 * counters back (the rows are locked by then), insert every message in
 * one INSERT, and move every sender's read marker in one UPDATE.
 */
static char *sql_seq_add[BATCH_MAX + 1], *sql_seq_get[BATCH_MAX + 1];
static char *sql_msg_add[BATCH_MAX + 1], *sql_read_self[BATCH_MAX + 1];
static char *sql_members[BATCH_MAX + 1];

void
send_sql_init(void)
{
	struct buf a, b, c, d, e;
	int n, i;

	for (n = 1; n <= BATCH_MAX; n++) {
		buf_init(&e);
		buf_adds(&e,
		    "SELECT m.conversation_id, m.user_id, c.kind, "
		    "c.direct_key, "
		    "f.user_id FROM conv_members m JOIN conversations c ON "
		    "c.id = m.conversation_id LEFT JOIN friendships f ON "
		    "c.kind = 1 AND f.friend_id = m.user_id AND f.user_id IN "
		    "(");
		for (i = 0; i < n; i++)
			buf_adds(&e, i == 0 ? "?" : ", ?");
		buf_adds(&e, ") WHERE m.conversation_id IN (");
		for (i = 0; i < n; i++)
			buf_adds(&e, i == 0 ? "?" : ", ?");
		buf_adds(&e, ") ORDER BY m.conversation_id, m.user_id");
		sql_members[n] = buf_detach(&e, NULL);
		buf_init(&a);
		buf_init(&b);
		buf_init(&c);
		buf_init(&d);
		buf_adds(&a,
		    "UPDATE conversations SET last_seq = last_seq + "
		    "CASE id");
		buf_adds(&b,
		    "SELECT id, last_seq FROM conversations WHERE id "
		    "IN (");
		buf_adds(&c,
		    "INSERT INTO messages (conversation_id, seq, "
		    "sender_id, client_msg_id, body, created_at) "
		    "VALUES ");
		buf_adds(&d,
		    "UPDATE conv_members SET read_seq = GREATEST("
		    "read_seq, CASE");
		for (i = 0; i < n; i++) {
			buf_adds(&a, " WHEN ? THEN ?");
			buf_adds(&b, i == 0 ? "?" : ", ?");
			buf_adds(&c,
			    i == 0 ? "(?, ?, ?, ?, ?, ?)"
				   : ", (?, ?, ?, ?, ?, ?)");
			buf_adds(&d,
			    " WHEN conversation_id = ? AND user_id = ? "
			    "THEN ?");
		}
		buf_adds(&a, " END, last_at = ? WHERE id IN (");
		buf_adds(&d, " ELSE read_seq END) WHERE ");
		for (i = 0; i < n; i++) {
			buf_adds(&a, i == 0 ? "?" : ", ?");
			buf_adds(&d, i == 0 ? "" : " OR ");
			buf_adds(&d, "(conversation_id = ? AND user_id = ?)");
		}
		buf_adds(&a, ")");
		buf_adds(&b, ")");
		sql_seq_add[n] = buf_detach(&a, NULL);
		sql_seq_get[n] = buf_detach(&b, NULL);
		sql_msg_add[n] = buf_detach(&c, NULL);
		sql_read_self[n] = buf_detach(&d, NULL);
	}
}

/* Whether a multi-row INSERT's ids are first, first + step, ... (the
 * auto-increment lock modes 0 and 1); 0 unknown, 1 yes, -1 no. */
static __thread int ids_consecutive;
static __thread int64_t ids_step;

static int
send_ids_consecutive(struct db *db)
{
	if (ids_consecutive != 0)
		return ids_consecutive > 0;
	if (db_query(db,
		"SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment",
		"") != 0 ||
	    db_next(db) != 1) {
		db_done(db);
		return 0;
	}
	ids_consecutive = db_int(db, 0) <= 1 ? 1 : -1;
	ids_step = db_int(db, 1) > 0 ? db_int(db, 1) : 1;
	db_done(db);
	return ids_consecutive > 0;
}

/*
 * send_check for every send of a batch in one SELECT: the members of all
 * their conversations, each with the batch's senders it has a friendship
 * from (direct conversations only). -1 on a database error.
 */
static int
send_check_all(struct db *db, struct send *s, size_t n)
{
	struct row {
		int64_t cid, uid, kind, from;
		char key[48];
	} *rows = NULL;
	int64_t *ints, peer;
	size_t nrows = 0, i, j;
	char *types;
	int member, friend, direct;

	ints = xcalloc(2 * n, sizeof *ints);
	types = xmalloc(2 * n + 1);
	for (i = 0; i < n; i++) {
		ints[i] = s[i].op->uid;
		ints[n + i] = s[i].cid;
	}
	memset(types, 'i', 2 * n);
	types[2 * n] = '\0';
	if (db_query_array(db, sql_members[n], types, ints, NULL) != 0) {
		free(ints);
		free(types);
		return -1;
	}
	free(ints);
	free(types);
	while (db_next(db) == 1) {
		rows = xreallocarray(rows, nrows + 1, sizeof *rows);
		rows[nrows].cid = db_int(db, 0);
		rows[nrows].uid = db_int(db, 1);
		rows[nrows].kind = db_int(db, 2);
		snprintf(rows[nrows].key, sizeof rows[nrows].key, "%s",
		    db_str(db, 3));
		rows[nrows].from = db_int(db, 4);
		nrows++;
	}
	db_done(db);

	for (i = 0; i < n; i++) {
		s[i].l.v = NULL;
		s[i].l.n = 0;
		member = friend = direct = 0;
		peer = 0;
		for (j = 0; j < nrows; j++) {
			if (rows[j].cid != s[i].cid)
				continue;
			/* A member repeats once per sender befriending it. */
			if (s[i].l.n == 0 ||
			    s[i].l.v[s[i].l.n - 1] != rows[j].uid) {
				s[i].l.v = xreallocarray(
				    s[i].l.v, s[i].l.n + 1, sizeof *s[i].l.v);
				s[i].l.v[s[i].l.n++] = rows[j].uid;
			}
			if (rows[j].uid == s[i].op->uid)
				member = 1;
			if (rows[j].kind == KIND_DIRECT) {
				direct = 1;
				peer = direct_peer(rows[j].key, s[i].op->uid);
				if (rows[j].uid == peer &&
				    rows[j].from == s[i].op->uid)
					friend = 1;
			}
		}
		if (!member)
			op_error(s[i].op, 404, "not_found",
			    "no conversation %lld", (long long)s[i].cid);
		else if (direct && !friend)
			op_error(s[i].op, 403, "forbidden",
			    "user %lld is no longer a friend", (long long)peer);
	}
	free(rows);
	return 0;
}

/*
 * Sequences, rows and read markers for the sends in s (sorted by
 * conversation) that passed their checks: four statements whatever
 * their number. -1 on any error.
 */
static int
send_write_all(struct db *db, struct send *s, size_t n)
{
	struct send **w;
	int64_t *ints, now = s[0].now, last, first;
	const char **strs;
	char *types;
	size_t nw = 0, nc = 0, i, j, k;
	int rc = -1;

	w = xcalloc(n, sizeof *w);
	for (i = 0; i < n; i++) {
		if (s[i].op->status == 0)
			w[nw++] = &s[i];
	}
	if (nw == 0) {
		free(w);
		return 0;
	}
	ints = xcalloc(6 * nw + 1, sizeof *ints);
	strs = xcalloc(6 * nw + 1, sizeof *strs);
	types = xmalloc(6 * nw + 2);

	/* Counters: conversation ids are runs in w (sorted). */
	for (i = 0; i < nw; i = j) {
		for (j = i; j < nw && w[j]->cid == w[i]->cid; j++)
			;
		ints[2 * nc] = w[i]->cid;
		ints[2 * nc + 1] = (int64_t)(j - i);
		nc++;
	}
	ints[2 * nc] = now;
	for (i = 0, k = 0; i < nc; i++)
		ints[2 * nc + 1 + i] = ints[2 * i];
	memset(types, 'i', 3 * nc + 1);
	types[3 * nc + 1] = '\0';
	if (db_query_array(db, sql_seq_add[nc], types, ints, strs) != 0 ||
	    db_affected(db) != nc)
		goto out;
	db_done(db);
	for (i = 0; i < nc; i++)
		ints[i] = ints[2 * nc + 1 + i];
	types[nc] = '\0';
	if (db_query_array(db, sql_seq_get[nc], types, ints, strs) != 0)
		goto out;
	for (k = 0; k < nc && db_next(db) == 1; k++) {
		last = db_int(db, 1);
		for (i = nw; i > 0; i--) {
			if (w[i - 1]->cid == db_int(db, 0))
				w[i - 1]->seq = last--;
		}
	}
	db_done(db);
	if (k != nc)
		goto out;

	/* The rows. */
	for (i = 0; i < nw; i++) {
		ints[6 * i] = w[i]->cid;
		ints[6 * i + 1] = w[i]->seq;
		ints[6 * i + 2] = w[i]->op->uid;
		strs[6 * i + 3] = w[i]->op->frame.client_msg_id;
		strs[6 * i + 4] = w[i]->op->frame.body;
		ints[6 * i + 5] = w[i]->now;
		memcpy(types + 6 * i, "iiissi", 6);
	}
	types[6 * nw] = '\0';
	if (db_query_array(db, sql_msg_add[nw], types, ints, strs) != 0 ||
	    db_affected(db) != nw)
		goto out;
	first = (int64_t)db_insert_id(db);
	db_done(db);
	for (i = 0; i < nw; i++)
		w[i]->mid = first + (int64_t)i * ids_step;

	/* Read markers: the highest seq first for a repeated sender. */
	for (i = 0; i < nw; i++) {
		k = nw - 1 - i;
		ints[3 * i] = w[k]->cid;
		ints[3 * i + 1] = w[k]->op->uid;
		ints[3 * i + 2] = w[k]->seq;
		ints[3 * nw + 2 * i] = w[k]->cid;
		ints[3 * nw + 2 * i + 1] = w[k]->op->uid;
	}
	memset(types, 'i', 5 * nw);
	types[5 * nw] = '\0';
	if (db_query_array(db, sql_read_self[nw], types, ints, strs) != 0)
		goto out;
	db_done(db);
	for (i = 0; i < nw; i++)
		w[i]->written = 1;
	rc = 0;
out:
	free(w);
	free(ints);
	free(strs);
	free(types);
	return rc;
}

/*
 * Group commit: several sockets' sends (already authenticated WebSocket
 * sends, one per socket) in one transaction, so they share one BEGIN,
 * one COMMIT (one log flush), one trip through the worker pool and four
 * writing statements. Rows are taken in conversation order so two
 * batches cannot deadlock on the sequence counters. Anything unusual (a
 * client id seen before, a lost connection, a deadlock) rolls the whole
 * batch back and runs each send on its own, as op_send always has: each
 * reply still follows its own commit, and a client id is still inserted
 * at most once.
 */
int
store_send_batch(struct op **ops, size_t n)
{
	struct send *s;
	struct db *db;
	size_t i;

	if (n == 1 || n > BATCH_MAX) {
		for (i = 0; i < n; i++)
			store_run(ops[i]);
		return 0;
	}
	if ((db = db_get()) == NULL) {
		for (i = 0; i < n; i++)
			op_error(ops[i], 503, "unavailable",
			    "the database is unreachable");
		return 0;
	}
	s = xcalloc(n, sizeof *s);
	for (i = 0; i < n; i++) {
		s[i].op = ops[i];
		s[i].cid = ops[i]->frame.conversation_id;
		s[i].now = (int64_t)now_ms();
	}
	qsort(s, n, sizeof *s, send_cmp);
	if (!send_ids_consecutive(db) || db_begin(db) != 0)
		goto again;
	if (send_check_all(db, s, n) != 0)
		goto again;
	if (send_write_all(db, s, n) != 0 || db_commit(db) != 0)
		goto again;
	for (i = 0; i < n; i++) {
		if (s[i].written)
			send_finish(&s[i]);
		free(s[i].l.v);
	}
	free(s);
	return 1;

again:
	db_rollback(db);
	if (db_gone(db))
		db_reset();
	for (i = 0; i < n; i++) {
		free(s[i].l.v);
		send_reset(s[i].op);
		store_run(s[i].op);
	}
	free(s);
	return -1;
}
