impl :: bincode :: Encode for RejectReason
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::NotFound
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::Expired
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::NotYetValid
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (2u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::PoolNotActive
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (3u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::AlreadyRedeemed
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (4u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::QuantityExceeded
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (5u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::MemberLimitExceeded
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (6u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::MinSpendNotMet
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (7u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::ChannelNotAllowed
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (8u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::StoreNotAllowed
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (9u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CategoryExcluded
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (10u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::NotAuthorized
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (11u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::InvalidTransition
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (12u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::DuplicateCode
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (13u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::Stale
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (14u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::BadSignature
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (15u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::WrongChain
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (16u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::Duplicate
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (17u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::UnknownKey
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (18u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::KeyRevoked
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (19u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::InvalidInput
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (20u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::AlreadyExists
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (21u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::TokenRevoked
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (22u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::WrongMember
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (23u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::CurrencyMismatch
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (24u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::WrongPoolKind
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (25u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::ClaimConflict
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (26u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::AlreadyRolledBack
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (27u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::NotTransferable
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (28u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::AlreadyApproved
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (29u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            }, Self ::Overflow
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (30u32), encoder) ?
                ; core :: result :: Result :: Ok(())
            },
        }
    }
}