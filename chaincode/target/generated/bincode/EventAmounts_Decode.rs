impl < __Context > :: bincode :: Decode < __Context > for EventAmounts
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            currency : :: bincode :: Decode :: decode(decoder) ?,
            order_total_minor : :: bincode :: Decode :: decode(decoder) ?,
            eligible_minor : :: bincode :: Decode :: decode(decoder) ?,
            discount_minor : :: bincode :: Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for EventAmounts
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            currency : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, order_total_minor : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            eligible_minor : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, discount_minor : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}