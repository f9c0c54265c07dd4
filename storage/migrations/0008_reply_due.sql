-- hailong schema, version 7: replies that a commit promised survive a crash.
-- `responses.reply_due` is the `state_rev` of the last step committed through a channel whose
-- replies have not been confirmed sent yet (0: none). A channel step sets it in the same
-- statement that stores the step; the channel clears it once the replies are sent; at start-up
-- a channel shows each response with a reply still due its current question again
-- (storage.api.ConversationStore.owed_replies). Existing responses owe nothing.

ALTER TABLE responses ADD COLUMN reply_due INTEGER NOT NULL DEFAULT 0;
