impl < __Context > :: bincode :: Decode < __Context > for Order
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            currency : :: bincode :: Decode :: decode(decoder) ?, total_minor
            : :: bincode :: Decode :: decode(decoder) ?, lines : :: bincode ::
            Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for Order
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            currency : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, total_minor : :: bincode :: BorrowDecode
            ::< '_, __Context >:: borrow_decode(decoder) ?, lines : :: bincode
            :: BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}