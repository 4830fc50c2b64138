impl < __Context > :: bincode :: Decode < __Context > for PoolRecord
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            id : :: bincode :: Decode :: decode(decoder) ?, owner : :: bincode
            :: Decode :: decode(decoder) ?, spec : :: bincode :: Decode ::
            decode(decoder) ?, status : :: bincode :: Decode ::
            decode(decoder) ?, created_at : :: bincode :: Decode ::
            decode(decoder) ?, issued : :: bincode :: Decode ::
            decode(decoder) ?, allocated : :: bincode :: Decode ::
            decode(decoder) ?, redeemed : :: bincode :: Decode ::
            decode(decoder) ?, next_free : :: bincode :: Decode ::
            decode(decoder) ?, shared_code : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for PoolRecord
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, owner : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, spec : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            status : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, created_at : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, issued : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, allocated : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, redeemed : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, next_free : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, shared_code : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}