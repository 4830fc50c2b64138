impl < __Context > :: bincode :: Decode < __Context > for RedeemTx
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            target : :: bincode :: Decode :: decode(decoder) ?, member : ::
            bincode :: Decode :: decode(decoder) ?, order : :: bincode ::
            Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for RedeemTx
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            target : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, member : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, order : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}