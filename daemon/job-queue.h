/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <glib.h>
#include <systemd/sd-event.h>

/* The plumbing of a worker thread (libvirt-worker.c, netlink-worker.c):
 * jobs go from the main thread to the worker in FIFO order, and their
 * completions come back to the main thread's sd-event loop (an eventfd) in
 * the order they were finished. */

typedef struct JobQueue JobQueue;

/* Runs on the main thread; owns JOB afterwards. */
typedef void (*JobDone)(void *job, void *userdata);
/* Each worker calls its own run type; stored here as a plain function
 * pointer and cast back to that very type before the call. */
typedef void (*JobRunFunc)(void);

typedef struct QueuedJob {
        void *job;
        JobRunFunc run;
        JobDone done;
        GDestroyNotify free_job;        /* JOB when DONE never runs */
        void *userdata;
} QueuedJob;

/* NAME describes the event source ("libvirt-results"). */
int job_queue_new(sd_event *event, const char *name, JobQueue **ret);
/* Only once the worker thread is gone: frees undelivered completions with
 * their FREE_JOB. */
void job_queue_free(JobQueue *q);

/* Main thread. */
void job_queue_submit(JobQueue *q, void *job, JobRunFunc run, JobDone done, GDestroyNotify free_job,
                      void *userdata);
/* Drops the jobs not yet started (FREE_JOB) and makes job_queue_pop()
 * return NULL once the running job is finished. */
void job_queue_quit(JobQueue *q);
/* No more completions are delivered (before abandoning a stuck worker). */
void job_queue_stop_delivery(JobQueue *q);

/* Worker thread: the next job, blocking; NULL: quit. */
QueuedJob *job_queue_pop(JobQueue *q);

/* For a worker that waits on a loop of its own instead of in
 * job_queue_pop(): the next job without blocking (*RET NULL when none is
 * queued); false once the queue was told to quit. */
bool job_queue_try_pop(JobQueue *q, QueuedJob **ret);
/* WAKE(DATA) runs on the submitting thread after every job_queue_submit()
 * and job_queue_quit(), once the job is in the queue: it wakes such a loop.
 * Set before the first job. */
void job_queue_set_wake(JobQueue *q, void (*wake)(void *data), void *data);
/* Worker thread: J ran; its DONE runs on the main loop. */
void job_queue_finish(JobQueue *q, QueuedJob *j);

/* Any thread: DONE(JOB) runs on the main loop, after what was finished
 * before (libvirt's events). */
void job_queue_post(JobQueue *q, void *job, JobDone done, GDestroyNotify free_job, void *userdata);
