/* privs.h - after the classifier is loaded and attached the agent keeps only
 * CAP_NET_ADMIN (to detach its filters at exit) and CAP_BPF (to read its maps) and
 * can gain nothing back. */
#ifndef AYAFLOW_NODE_PRIVS_H
#define AYAFLOW_NODE_PRIVS_H

/* Drops every capability but CAP_NET_ADMIN and CAP_BPF from this thread's effective, permitted
 * and inheritable sets, and sets no_new_privs. Call before any other thread starts
 * (capabilities are per thread). 0 or -errno. */
int privs_drop(void);

#endif
