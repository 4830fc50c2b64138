impl :: bincode :: Encode for EventType
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::PoolCreated
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::PoolUpdated
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::PoolTransitioned
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (2u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CodesIssued
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (3u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CouponAllocated
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (4u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CouponRedeemed
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (5u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CouponRolledBack
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (6u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CouponRevoked
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (7u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CouponTransferred
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (8u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::KeyRegistered
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (9u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::KeyRevoked
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (10u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::GovernanceProposed
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (11u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::GovernanceApproved
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (12u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::GovernanceApplied
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (13u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::TxRejected
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (14u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            },
        }
    }
}