impl < __Context > :: bincode :: Decode < __Context > for TransferTokenTx
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            token : :: bincode :: Decode :: decode(decoder) ?, from : ::
            bincode :: Decode :: decode(decoder) ?, to : :: bincode :: Decode
            :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for TransferTokenTx
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            token : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, from : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, to : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
        })
    }
}