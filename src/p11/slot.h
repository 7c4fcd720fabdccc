/* Slots, tokens and mechanisms as C_GetSlotList & co. show them
 * (src/p11/slot.c). */
#ifndef A11_P11_SLOT_H
#define A11_P11_SLOT_H

#include "p11.h"

CK_RV p11_get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count);
CK_RV p11_get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info);
CK_RV p11_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info);
CK_RV p11_get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count);
CK_RV p11_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info);

#endif
