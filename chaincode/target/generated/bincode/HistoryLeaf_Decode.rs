impl < __Context > :: bincode :: Decode < __Context > for HistoryLeaf
{
    fn decode < __D : :: bincode :: de :: Decoder < Context = __Context > >
    (decoder : & mut __D) ->core :: result :: Result < Self, :: bincode ::
    error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            tx_id : :: bincode :: Decode :: decode(decoder) ?, height : ::
            bincode :: Decode :: decode(decoder) ?, index : :: bincode ::
            Decode :: decode(decoder) ?, outcome : :: bincode :: Decode ::
            decode(decoder) ?,
        })
    }
} impl < '__de, __Context > :: bincode :: BorrowDecode < '__de, __Context >
for HistoryLeaf
{
    fn borrow_decode < __D : :: bincode :: de :: BorrowDecoder < '__de,
    Context = __Context > > (decoder : & mut __D) ->core :: result :: Result <
    Self, :: bincode :: error :: DecodeError >
    {
        core :: result :: Result ::
        Ok(Self
        {
            tx_id : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?, height : :: bincode :: BorrowDecode ::<
            '_, __Context >:: borrow_decode(decoder) ?, index : :: bincode ::
            BorrowDecode ::< '_, __Context >:: borrow_decode(decoder) ?,
            outcome : :: bincode :: BorrowDecode ::< '_, __Context >::
            borrow_decode(decoder) ?,
        })
    }
}