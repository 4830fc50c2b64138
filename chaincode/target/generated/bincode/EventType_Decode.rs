impl < __Context > :: bincode :: Decode < __Context > for EventType
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result :: Ok(Self ::PoolCreated {}), 1u32
            =>core :: result :: Result :: Ok(Self ::PoolUpdated {}), 2u32
            =>core :: result :: Result :: Ok(Self ::PoolTransitioned {}), 3u32
            =>core :: result :: Result :: Ok(Self ::CodesIssued {}), 4u32
            =>core :: result :: Result :: Ok(Self ::CouponAllocated {}), 5u32
            =>core :: result :: Result :: Ok(Self ::CouponRedeemed {}), 6u32
            =>core :: result :: Result :: Ok(Self ::CouponRolledBack {}), 7u32
            =>core :: result :: Result :: Ok(Self ::CouponRevoked {}), 8u32
            =>core :: result :: Result :: Ok(Self ::CouponTransferred {}),
            9u32 =>core :: result :: Result :: Ok(Self ::KeyRegistered {}),
            10u32 =>core :: result :: Result :: Ok(Self ::KeyRevoked {}),
            11u32 =>core :: result :: Result ::
            Ok(Self ::GovernanceProposed {}), 12u32 =>core :: result :: Result
            :: Ok(Self ::GovernanceApproved {}), 13u32 =>core :: result ::
            Result :: Ok(Self ::GovernanceApplied {}), 14u32 =>core :: result
            :: Result :: Ok(Self ::TxRejected {}), variant =>core :: result ::
            Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "EventType", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 14 }
            })
        }
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for EventType
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result :: Ok(Self ::PoolCreated {}), 1u32
            =>core :: result :: Result :: Ok(Self ::PoolUpdated {}), 2u32
            =>core :: result :: Result :: Ok(Self ::PoolTransitioned {}), 3u32
            =>core :: result :: Result :: Ok(Self ::CodesIssued {}), 4u32
            =>core :: result :: Result :: Ok(Self ::CouponAllocated {}), 5u32
            =>core :: result :: Result :: Ok(Self ::CouponRedeemed {}), 6u32
            =>core :: result :: Result :: Ok(Self ::CouponRolledBack {}), 7u32
            =>core :: result :: Result :: Ok(Self ::CouponRevoked {}), 8u32
            =>core :: result :: Result :: Ok(Self ::CouponTransferred {}),
            9u32 =>core :: result :: Result :: Ok(Self ::KeyRegistered {}),
            10u32 =>core :: result :: Result :: Ok(Self ::KeyRevoked {}),
            11u32 =>core :: result :: Result ::
            Ok(Self ::GovernanceProposed {}), 12u32 =>core :: result :: Result
            :: Ok(Self ::GovernanceApproved {}), 13u32 =>core :: result ::
            Result :: Ok(Self ::GovernanceApplied {}), 14u32 =>core :: result
            :: Result :: Ok(Self ::TxRejected {}), variant =>core :: result ::
            Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "EventType", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 14 }
            })
        }
    }
}