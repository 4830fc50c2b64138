impl < __Context > :: bincode :: Decode < __Context > for RedemptionRecord
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            pool : :: bincode :: Decode :: decode(decoder) ?, token : ::
            bincode :: Decode :: decode(decoder) ?, member : :: bincode ::
            Decode :: decode(decoder) ?, redeemer_org : :: bincode :: Decode
            :: decode(decoder) ?, store : :: bincode :: Decode ::
            decode(decoder) ?, channel : :: bincode :: Decode ::
            decode(decoder) ?, eligible_minor : :: bincode :: Decode ::
            decode(decoder) ?, discount_minor : :: bincode :: Decode ::
            decode(decoder) ?, height : :: bincode :: Decode ::
            decode(decoder) ?, time_ms : :: bincode :: Decode ::
            decode(decoder) ?, rolled_back_at : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for RedemptionRecord
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            pool : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, token : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, member : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            redeemer_org : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, store : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, channel : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            eligible_minor : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, discount_minor : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            height : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, time_ms : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, rolled_back_at : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}