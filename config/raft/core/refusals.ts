// Messages the core refuses because of who sent them (thesis §4.2.3, disruptive servers): the
// transport only proves a sender knows the cluster secret, which a removed member still does.
//   vote_from_non_voter:     a vote or pre-vote request at a later term from a node this
//                            configuration does not name a voter, while this node hears a
//                            live leader (its lease). The lease always kept such requests out,
//                            except those flagged as a leadership transfer ("force"), which a
//                            removed member (or a forged frame) could set to push every member
//                            to its term and depose a working leader; now only a voter's
//                            transfer skips the lease. Outside the lease a non-voter's vote
//                            request is handled as Raft says: a member whose configuration lags
//                            (a joiner, a follower that missed a promotion) must still be able
//                            to vote for the up-to-date candidate, or nobody could be elected.
//   timeout_now_not_leader:  a timeoutNow (campaign now, skipping the lease) from anyone but
//                            this term's leader, which is the only one that sends it.
//   append_from_non_member:  an append, heartbeat or snapshot at a later term from a node this
//                            configuration names neither voter nor learner, while this node
//                            hears a live leader (its lease): a removed member, or anyone
//                            holding the secret, claiming a later term would otherwise make
//                            every member follow it and append (and commit) what it sends.
//                            Outside the lease it is followed as Raft says: a follower whose
//                            configuration lags must accept a leader it does not know yet (it
//                            was added after this follower's last entry), at worst one
//                            election timeout late. etcd-io/raft and hashicorp/raft filter
//                            nothing here (etcd refuses removed member ids at its transport,
//                            which works because its member ids are never reused; ours are).
export const REFUSAL_REASONS = [
  "vote_from_non_voter",
  "timeout_now_not_leader",
  "append_from_non_member",
] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
