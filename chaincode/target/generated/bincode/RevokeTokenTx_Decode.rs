impl < __Context > :: bincode :: Decode < __Context > for RevokeTokenTx
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            token : :: bincode :: Decode :: decode(decoder) ?, reason : ::
            bincode :: Decode :: decode(decoder) ?, note : :: bincode ::
            Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for RevokeTokenTx
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            token : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, reason : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, note : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}