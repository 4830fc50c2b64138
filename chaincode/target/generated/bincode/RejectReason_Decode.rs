impl < __Context > :: bincode :: Decode < __Context > for RejectReason
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result :: Ok(Self ::NotFound {}), 1u32
            =>core :: result :: Result :: Ok(Self ::Expired {}), 2u32 =>core
            :: result :: Result :: Ok(Self ::NotYetValid {}), 3u32 =>core ::
            result :: Result :: Ok(Self ::PoolNotActive {}), 4u32 =>core ::
            result :: Result :: Ok(Self ::AlreadyRedeemed {}), 5u32 =>core ::
            result :: Result :: Ok(Self ::QuantityExceeded {}), 6u32 =>core ::
            result :: Result :: Ok(Self ::MemberLimitExceeded {}), 7u32 =>core
            :: result :: Result :: Ok(Self ::MinSpendNotMet {}), 8u32 =>core
            :: result :: Result :: Ok(Self ::ChannelNotAllowed {}), 9u32
            =>core :: result :: Result :: Ok(Self ::StoreNotAllowed {}), 10u32
            =>core :: result :: Result :: Ok(Self ::CategoryExcluded {}),
            11u32 =>core :: result :: Result :: Ok(Self ::NotAuthorized {}),
            12u32 =>core :: result :: Result ::
            Ok(Self ::InvalidTransition {}), 13u32 =>core :: result :: Result
            :: Ok(Self ::DuplicateCode {}), 14u32 =>core :: result :: Result
            :: Ok(Self ::Stale {}), 15u32 =>core :: result :: Result ::
            Ok(Self ::BadSignature {}), 16u32 =>core :: result :: Result ::
            Ok(Self ::WrongChain {}), 17u32 =>core :: result :: Result ::
            Ok(Self ::Duplicate {}), 18u32 =>core :: result :: Result ::
            Ok(Self ::UnknownKey {}), 19u32 =>core :: result :: Result ::
            Ok(Self ::KeyRevoked {}), 20u32 =>core :: result :: Result ::
            Ok(Self ::InvalidInput {}), 21u32 =>core :: result :: Result ::
            Ok(Self ::AlreadyExists {}), 22u32 =>core :: result :: Result ::
            Ok(Self ::TokenRevoked {}), 23u32 =>core :: result :: Result ::
            Ok(Self ::WrongMember {}), 24u32 =>core :: result :: Result ::
            Ok(Self ::CurrencyMismatch {}), 25u32 =>core :: result :: Result
            :: Ok(Self ::WrongPoolKind {}), 26u32 =>core :: result :: Result
            :: Ok(Self ::ClaimConflict {}), 27u32 =>core :: result :: Result
            :: Ok(Self ::AlreadyRolledBack {}), 28u32 =>core :: result ::
            Result :: Ok(Self ::NotTransferable {}), 29u32 =>core :: result ::
            Result :: Ok(Self ::AlreadyApproved {}), 30u32 =>core :: result ::
            Result :: Ok(Self ::Overflow {}), variant =>core :: result ::
            Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "RejectReason", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 30 }
            })
        }
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for RejectReason
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result :: Ok(Self ::NotFound {}), 1u32
            =>core :: result :: Result :: Ok(Self ::Expired {}), 2u32 =>core
            :: result :: Result :: Ok(Self ::NotYetValid {}), 3u32 =>core ::
            result :: Result :: Ok(Self ::PoolNotActive {}), 4u32 =>core ::
            result :: Result :: Ok(Self ::AlreadyRedeemed {}), 5u32 =>core ::
            result :: Result :: Ok(Self ::QuantityExceeded {}), 6u32 =>core ::
            result :: Result :: Ok(Self ::MemberLimitExceeded {}), 7u32 =>core
            :: result :: Result :: Ok(Self ::MinSpendNotMet {}), 8u32 =>core
            :: result :: Result :: Ok(Self ::ChannelNotAllowed {}), 9u32
            =>core :: result :: Result :: Ok(Self ::StoreNotAllowed {}), 10u32
            =>core :: result :: Result :: Ok(Self ::CategoryExcluded {}),
            11u32 =>core :: result :: Result :: Ok(Self ::NotAuthorized {}),
            12u32 =>core :: result :: Result ::
            Ok(Self ::InvalidTransition {}), 13u32 =>core :: result :: Result
            :: Ok(Self ::DuplicateCode {}), 14u32 =>core :: result :: Result
            :: Ok(Self ::Stale {}), 15u32 =>core :: result :: Result ::
            Ok(Self ::BadSignature {}), 16u32 =>core :: result :: Result ::
            Ok(Self ::WrongChain {}), 17u32 =>core :: result :: Result ::
            Ok(Self ::Duplicate {}), 18u32 =>core :: result :: Result ::
            Ok(Self ::UnknownKey {}), 19u32 =>core :: result :: Result ::
            Ok(Self ::KeyRevoked {}), 20u32 =>core :: result :: Result ::
            Ok(Self ::InvalidInput {}), 21u32 =>core :: result :: Result ::
            Ok(Self ::AlreadyExists {}), 22u32 =>core :: result :: Result ::
            Ok(Self ::TokenRevoked {}), 23u32 =>core :: result :: Result ::
            Ok(Self ::WrongMember {}), 24u32 =>core :: result :: Result ::
            Ok(Self ::CurrencyMismatch {}), 25u32 =>core :: result :: Result
            :: Ok(Self ::WrongPoolKind {}), 26u32 =>core :: result :: Result
            :: Ok(Self ::ClaimConflict {}), 27u32 =>core :: result :: Result
            :: Ok(Self ::AlreadyRolledBack {}), 28u32 =>core :: result ::
            Result :: Ok(Self ::NotTransferable {}), 29u32 =>core :: result ::
            Result :: Ok(Self ::AlreadyApproved {}), 30u32 =>core :: result ::
            Result :: Ok(Self ::Overflow {}), variant =>core :: result ::
            Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "RejectReason", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 30 }
            })
        }
    }
}