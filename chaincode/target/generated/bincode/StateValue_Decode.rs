impl < __Context > :: bincode :: Decode < __Context > for StateValue
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result ::
            Ok(Self ::Params
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 1u32 =>core :: result :: Result ::
            Ok(Self ::Org
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 2u32 =>core :: result :: Result ::
            Ok(Self ::Key
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 3u32 =>core :: result :: Result ::
            Ok(Self ::Consortium
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 4u32 =>core :: result :: Result ::
            Ok(Self ::Proposal
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 5u32 =>core :: result :: Result ::
            Ok(Self ::Pool
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 6u32 =>core :: result :: Result ::
            Ok(Self ::Token
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 7u32 =>core :: result :: Result ::
            Ok(Self ::Code
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 8u32 =>core :: result :: Result ::
            Ok(Self ::Claim
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 9u32 =>core :: result :: Result ::
            Ok(Self ::Count
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 10u32 =>core :: result :: Result ::
            Ok(Self ::Redemption
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 11u32 =>core :: result :: Result ::
            Ok(Self ::SeenTx
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 12u32 =>core :: result :: Result ::
            Ok(Self ::Remembered
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?,
            }), 13u32 =>core :: result :: Result ::
            Ok(Self ::PruneCursor
            {
                0 : :: bincode :: Decode ::< __D :: Context >::
                decode(decoder) ?, 1 : :: bincode :: Decode ::< __D :: Context
                >:: decode(decoder) ?,
            }), variant =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "StateValue", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 13 }
            })
        }
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for StateValue
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        let variant_index = < u32 as :: bincode :: Decode ::< __D :: Context
        >>:: decode(decoder) ?; match variant_index
        {
            0u32 =>core :: result :: Result ::
            Ok(Self ::Params
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 1u32 =>core :: result :: Result ::
            Ok(Self ::Org
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 2u32 =>core :: result :: Result ::
            Ok(Self ::Key
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 3u32 =>core :: result :: Result ::
            Ok(Self ::Consortium
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 4u32 =>core :: result :: Result ::
            Ok(Self ::Proposal
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 5u32 =>core :: result :: Result ::
            Ok(Self ::Pool
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 6u32 =>core :: result :: Result ::
            Ok(Self ::Token
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 7u32 =>core :: result :: Result ::
            Ok(Self ::Code
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 8u32 =>core :: result :: Result ::
            Ok(Self ::Claim
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 9u32 =>core :: result :: Result ::
            Ok(Self ::Count
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 10u32 =>core :: result :: Result ::
            Ok(Self ::Redemption
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 11u32 =>core :: result :: Result ::
            Ok(Self ::SeenTx
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 12u32 =>core :: result :: Result ::
            Ok(Self ::Remembered
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?,
            }), 13u32 =>core :: result :: Result ::
            Ok(Self ::PruneCursor
            {
                0 : :: bincode :: BorrowDecode ::< __D :: Context >::
                borrow_decode(decoder) ?, 1 : :: bincode :: BorrowDecode ::<
                __D :: Context >:: borrow_decode(decoder) ?,
            }), variant =>core :: result :: Result ::
            Err(:: bincode :: error :: DecodeError :: UnexpectedVariant
            {
                found : variant, type_name : "StateValue", allowed : &::
                bincode :: error :: AllowedEnumVariants :: Range
                { min: 0, max: 13 }
            })
        }
    }
}