/*
 * One chatstack run at a time: an flock(2) on a file under the state
 * directory. The lock goes when the process ends, however it ends, so a
 * killed run never leaves a stale lock behind.
 */
#ifndef LOCK_H
#define LOCK_H

#define LOCK_HELD (-2)

/*
 * Takes the lock at path (creating the file, mode 0600) without waiting.
 * Returns the locked fd, LOCK_HELD with *cause naming the holder's pid
 * when another run has it, or -1 with *cause set.
 */
int lock_take(const char *path, char **cause);
void lock_release(int fd);

#endif
