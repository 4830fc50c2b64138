impl :: bincode :: Encode for Event
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::KeyRegistered { key, org, role }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; :: bincode :: Encode :: encode(key, encoder) ?; :: bincode
                :: Encode :: encode(org, encoder) ?; :: bincode :: Encode ::
                encode(role, encoder) ?; core :: result :: Result :: Ok(())
            }, Self ::KeyRevoked { key }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; :: bincode :: Encode :: encode(key, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::ProposalOpened { proposal, approvals, needed }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (2u32), encoder) ?
                ; :: bincode :: Encode :: encode(proposal, encoder) ?; ::
                bincode :: Encode :: encode(approvals, encoder) ?; :: bincode
                :: Encode :: encode(needed, encoder) ?; core :: result ::
                Result :: Ok(())
            }, Self ::ProposalApproved { proposal, approvals, needed }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (3u32), encoder) ?
                ; :: bincode :: Encode :: encode(proposal, encoder) ?; ::
                bincode :: Encode :: encode(approvals, encoder) ?; :: bincode
                :: Encode :: encode(needed, encoder) ?; core :: result ::
                Result :: Ok(())
            }, Self ::GovernanceApplied { proposal, change }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (4u32), encoder) ?
                ; :: bincode :: Encode :: encode(proposal, encoder) ?; ::
                bincode :: Encode :: encode(change, encoder) ?; core :: result
                :: Result :: Ok(())
            }, Self ::PoolCreated { pool }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (5u32), encoder) ?
                ; :: bincode :: Encode :: encode(pool, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::PoolUpdated { pool }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (6u32), encoder) ?
                ; :: bincode :: Encode :: encode(pool, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::PoolStatusChanged { pool, from, to }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (7u32), encoder) ?
                ; :: bincode :: Encode :: encode(pool, encoder) ?; :: bincode
                :: Encode :: encode(from, encoder) ?; :: bincode :: Encode ::
                encode(to, encoder) ?; core :: result :: Result :: Ok(())
            }, Self ::CodesIssued { pool, first_serial, count }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (8u32), encoder) ?
                ; :: bincode :: Encode :: encode(pool, encoder) ?; :: bincode
                :: Encode :: encode(first_serial, encoder) ?; :: bincode ::
                Encode :: encode(count, encoder) ?; core :: result :: Result
                :: Ok(())
            }, Self ::Allocated { token, member, repeat }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (9u32), encoder) ?
                ; :: bincode :: Encode :: encode(token, encoder) ?; :: bincode
                :: Encode :: encode(member, encoder) ?; :: bincode :: Encode
                :: encode(repeat, encoder) ?; core :: result :: Result ::
                Ok(())
            }, Self ::Redeemed
            {
                redemption, pool, token, member, eligible_minor,
                discount_minor, currency
            }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (10u32), encoder) ?
                ; :: bincode :: Encode :: encode(redemption, encoder) ?; ::
                bincode :: Encode :: encode(pool, encoder) ?; :: bincode ::
                Encode :: encode(token, encoder) ?; :: bincode :: Encode ::
                encode(member, encoder) ?; :: bincode :: Encode ::
                encode(eligible_minor, encoder) ?; :: bincode :: Encode ::
                encode(discount_minor, encoder) ?; :: bincode :: Encode ::
                encode(currency, encoder) ?; core :: result :: Result ::
                Ok(())
            }, Self ::RolledBack { redemption, pool, token }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (11u32), encoder) ?
                ; :: bincode :: Encode :: encode(redemption, encoder) ?; ::
                bincode :: Encode :: encode(pool, encoder) ?; :: bincode ::
                Encode :: encode(token, encoder) ?; core :: result :: Result
                :: Ok(())
            }, Self ::TokenRevoked { token }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (12u32), encoder) ?
                ; :: bincode :: Encode :: encode(token, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::TokenTransferred { token, from, to }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (13u32), encoder) ?
                ; :: bincode :: Encode :: encode(token, encoder) ?; :: bincode
                :: Encode :: encode(from, encoder) ?; :: bincode :: Encode ::
                encode(to, encoder) ?; core :: result :: Result :: Ok(())
            },
        }
    }
}