impl < __Context > :: bincode :: Decode < __Context > for GovernanceChange
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result ::
            Ok(Self ::AddOrg
            {
                org : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, name : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?, admin_key : :: bincode ::
                Decode ::< __D :: Context >:: decode(decoder) ?,
            }), 1u32 =>core :: result :: Result ::
            Ok(Self ::AddNode
            {
                node : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 2u32 =>core :: result :: Result ::
            Ok(Self ::RemoveNode
            {
                node_id : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 3u32 =>core :: result :: Result ::
            Ok(Self ::UpdateParams
            {
                params : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 4u32 =>core :: result :: Result ::
            Ok(Self ::AddAuditor
            {
                org : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, key : :: bincode :: Decode ::< __D ::
                Context >:: decode(decoder) ?,
            }), variant =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "GovernanceChange", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 4 }
            })
        }
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for GovernanceChange
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result ::
            Ok(Self ::AddOrg
            {
                org : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, name : :: bincode :: BorrowDecode
                ::< __D :: Context >:: borrow_decode(decoder) ?, admin_key :
                :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 1u32 =>core :: result :: Result ::
            Ok(Self ::AddNode
            {
                node : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 2u32 =>core :: result :: Result ::
            Ok(Self ::RemoveNode
            {
                node_id : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 3u32 =>core :: result :: Result ::
            Ok(Self ::UpdateParams
            {
                params : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 4u32 =>core :: result :: Result ::
            Ok(Self ::AddAuditor
            {
                org : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, key : :: bincode :: BorrowDecode ::<
                __D :: Context >:: borrow_decode(decoder) ?,
            }), variant =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "GovernanceChange", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 4 }
            })
        }
    }
}