/* Objects of a logged-in token, built from what the broker released:
 * private key (a handle to the TPM key; no secret attribute is readable),
 * public key, certificate chain, bearer-token data object. */
#ifndef A11_P11_OBJECT_H
#define A11_P11_OBJECT_H

#include "p11.h"

/* Build t's objects from c into *objs (handles assigned later); without
 * with_private only the public ones (public key, certificates), which a
 * token shows before login once a lease has reached the host. */
CK_RV object_build(const struct p11_token *t, const struct attester_result *c, bool with_private,
		   struct p11_object ***objs, size_t *n);
void object_free(struct p11_object *o);
/* Make objs t's objects (mod.lock held): an object of the same class and
 * label as one t has keeps that one's handle (its attributes are updated
 * in place); the others get fresh handles; t's unmatched objects go. */
void object_attach_inlock(struct p11_token *t, struct p11_object **objs, size_t n);
void object_detach_inlock(struct p11_token *t);

/* Whether o is visible in session s (private objects need login). */
bool object_visible_inlock(const struct p11_session *s, const struct p11_object *o);
bool object_matches(const struct p11_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n);
/* C_GetAttributeValue semantics for one object (PKCS#11 §5.7). */
CK_RV object_get_attrs(const struct p11_object *o, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n);
CK_ULONG object_size(const struct p11_object *o);
const CK_ATTRIBUTE *object_attr(const struct p11_object *o, CK_ATTRIBUTE_TYPE type);
/* The object h as session s may see it, or NULL. */
struct p11_object *object_find_inlock(struct p11_session *s, CK_OBJECT_HANDLE h);

#endif
