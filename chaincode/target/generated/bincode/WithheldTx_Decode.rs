impl < __Context > :: bincode :: Decode < __Context > for WithheldTx
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            index : :: bincode :: Decode :: decode(decoder) ?, tx_leaf : ::
            bincode :: Decode :: decode(decoder) ?, result_leaf : :: bincode
            :: Decode :: decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for WithheldTx
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            index : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, tx_leaf : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, result_leaf : ::
            bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}