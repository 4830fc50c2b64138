impl < __Context > :: bincode :: Decode < __Context > for Event
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result ::
            Ok(Self ::KeyRegistered
            {
                key : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, org : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, role : :: bincode :: Decode ::<
                __D :: Context >:: decode(decoder) ?,
            }), 1u32 =>core :: result :: Result ::
            Ok(Self ::KeyRevoked
            {
                key : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 2u32 =>core :: result :: Result ::
            Ok(Self ::ProposalOpened
            {
                proposal : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, approvals : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, needed : :: bincode :: Decode
                ::< __D :: Context >:: decode(decoder) ?,
            }), 3u32 =>core :: result :: Result ::
            Ok(Self ::ProposalApproved
            {
                proposal : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, approvals : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, needed : :: bincode :: Decode
                ::< __D :: Context >:: decode(decoder) ?,
            }), 4u32 =>core :: result :: Result ::
            Ok(Self ::GovernanceApplied
            {
                proposal : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, change : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?,
            }), 5u32 =>core :: result :: Result ::
            Ok(Self ::PoolCreated
            {
                pool : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 6u32 =>core :: result :: Result ::
            Ok(Self ::PoolUpdated
            {
                pool : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 7u32 =>core :: result :: Result ::
            Ok(Self ::PoolStatusChanged
            {
                pool : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, from : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, to : :: bincode :: Decode ::<
                __D :: Context >:: decode(decoder) ?,
            }), 8u32 =>core :: result :: Result ::
            Ok(Self ::CodesIssued
            {
                pool : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, first_serial : :: bincode :: Decode ::< __D
                :: Context >:: decode(decoder) ?, count : :: bincode :: Decode
                ::< __D :: Context >:: decode(decoder) ?,
            }), 9u32 =>core :: result :: Result ::
            Ok(Self ::Allocated
            {
                token : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, member : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, repeat : :: bincode :: Decode
                ::< __D :: Context >:: decode(decoder) ?,
            }), 10u32 =>core :: result :: Result ::
            Ok(Self ::Redeemed
            {
                redemption : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, pool : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, token : :: bincode :: Decode
                ::< __D :: Context >:: decode(decoder) ?, member : :: bincode
                :: Decode ::< __D :: Context >:: decode(decoder) ?,
                eligible_minor : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, discount_minor : :: bincode :: Decode ::<
                __D :: Context >:: decode(decoder) ?, currency : :: bincode ::
                Decode ::< __D :: Context >:: decode(decoder) ?,
            }), 11u32 =>core :: result :: Result ::
            Ok(Self ::RolledBack
            {
                redemption : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, pool : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, token : :: bincode :: Decode
                ::< __D :: Context >:: decode(decoder) ?,
            }), 12u32 =>core :: result :: Result ::
            Ok(Self ::TokenRevoked
            {
                token : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 13u32 =>core :: result :: Result ::
            Ok(Self ::TokenTransferred
            {
                token : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, from : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, to : :: bincode :: Decode ::<
                __D :: Context >:: decode(decoder) ?,
            }), variant =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "Event", allowed : &:: bincode ::
                error :: AllowedEnumVariants :: Range { min: 0, max: 13 }
            })
        }
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for Event
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result ::
            Ok(Self ::KeyRegistered
            {
                key : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, org : :: bincode :: BorrowDecode ::<
                __D :: Context >:: borrow_decode(decoder) ?, role : :: bincode
                :: BorrowDecode ::< __D :: Context >:: borrow_decode(decoder)
                ?,
            }), 1u32 =>core :: result :: Result ::
            Ok(Self ::KeyRevoked
            {
                key : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 2u32 =>core :: result :: Result ::
            Ok(Self ::ProposalOpened
            {
                proposal : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, approvals : :: bincode ::
                BorrowDecode ::< __D :: Context >:: borrow_decode(decoder) ?,
                needed : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 3u32 =>core :: result :: Result ::
            Ok(Self ::ProposalApproved
            {
                proposal : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, approvals : :: bincode ::
                BorrowDecode ::< __D :: Context >:: borrow_decode(decoder) ?,
                needed : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 4u32 =>core :: result :: Result ::
            Ok(Self ::GovernanceApplied
            {
                proposal : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, change : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?,
            }), 5u32 =>core :: result :: Result ::
            Ok(Self ::PoolCreated
            {
                pool : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 6u32 =>core :: result :: Result ::
            Ok(Self ::PoolUpdated
            {
                pool : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 7u32 =>core :: result :: Result ::
            Ok(Self ::PoolStatusChanged
            {
                pool : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, from : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?, to : ::
                bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 8u32 =>core :: result :: Result ::
            Ok(Self ::CodesIssued
            {
                pool : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, first_serial : :: bincode ::
                BorrowDecode ::< __D :: Context >:: borrow_decode(decoder) ?,
                count : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 9u32 =>core :: result :: Result ::
            Ok(Self ::Allocated
            {
                token : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, member : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?, repeat : ::
                bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 10u32 =>core :: result :: Result ::
            Ok(Self ::Redeemed
            {
                redemption : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, pool : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?, token : ::
                bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, member : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?,
                eligible_minor : :: bincode :: BorrowDecode ::< __D :: Context
                >:: borrow_decode(decoder) ?, discount_minor : :: bincode ::
                BorrowDecode ::< __D :: Context >:: borrow_decode(decoder) ?,
                currency : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 11u32 =>core :: result :: Result ::
            Ok(Self ::RolledBack
            {
                redemption : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, pool : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?, token : ::
                bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 12u32 =>core :: result :: Result ::
            Ok(Self ::TokenRevoked
            {
                token : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 13u32 =>core :: result :: Result ::
            Ok(Self ::TokenTransferred
            {
                token : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, from : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?, to : ::
                bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), variant =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "Event", allowed : &:: bincode ::
                error :: AllowedEnumVariants :: Range { min: 0, max: 13 }
            })
        }
    }
}